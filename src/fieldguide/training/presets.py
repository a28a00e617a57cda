"""Published recipes as spec tables (override any value in the spec file).

``reeb2022`` (seed 000): ResNet-18, 224 resize + crop, ImageNet normalisation, SGD lr 0.001,
batch 4, cross-entropy, 25 epochs; momentum 0.9 as in the PyTorch transfer-learning tutorial
whose defaults the paper kept (the paper does not state it). ``inat2017`` (seed 003): RMSProp
(momentum 0.9, decay 0.9, epsilon 1.0 as in TF-slim), lr 0.0045 x0.94 every 4 epochs, batch 32
sampled uniformly over images, 299 px, random crops with aspect-ratio jitter, centre crop at
test (the paper's Inception-v3; ``model.backbone`` may be changed).
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "reeb2022": {
        "mode": "full",
        "model": {"backbone": "resnet18", "weights": "imagenet", "image_size": 224},
        "augment": {"scale_min": 0.08, "hflip": True},
        "optim": {"optimizer": "sgd", "lr": 0.001, "momentum": 0.9, "batch_size": 4,
                  "epochs": 25, "schedule": "constant"},
        "imbalance": {"sampling": "uniform", "loss_weights": "none"},
    },
    "inat2017": {
        "mode": "full",
        "model": {"backbone": "inception_v3", "weights": "imagenet", "image_size": 299},
        "augment": {"scale_min": 0.08, "ratio": [0.75, 4 / 3], "hflip": True},
        "optim": {"optimizer": "rmsprop", "lr": 0.0045, "momentum": 0.9, "alpha": 0.9,
                  "eps": 1.0, "batch_size": 32, "schedule": "step", "step_epochs": 4,
                  "gamma": 0.94},
        "imbalance": {"sampling": "uniform", "loss_weights": "none"},
    },
}

"""What a run needs before its first step: device, data, model, optimiser, trainable layers."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import torch
from torch import nn

from fieldguide.models.artefact import ModelCard, build_model
from fieldguide.models.heads import FieldguideNet
from fieldguide.models.registry import backbone_info, imagenet_classifier, weights_id
from fieldguide.training.manifest import Manifest
from fieldguide.training.spec import TrainSpec, backbones


def pick_device(spec: TrainSpec) -> torch.device:
    if spec.run.device == "cuda" or (spec.run.device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def make_model(spec: TrainSpec, data: Manifest) -> tuple[FieldguideNet, ModelCard]:
    """The network with ImageNet/file/random backbone weights and fresh heads, and its card."""
    m = spec.model
    (name,) = backbones(spec)  # a concatenation trains in encoder_probe
    weights = spec.resolve(m.weights) if m.weights not in ("", "imagenet") else m.weights or None
    prep = backbone_info(name).preprocessing
    if m.image_size:
        prep = replace(prep, size=m.image_size)
    card = ModelCard(
        backbone=name, heads=data.heads, preprocessing=prep, lineage=data.taxonomy,
        name=spec.name, version=datetime.now(UTC).strftime("%Y%m%d.%H%M%S"),
        weights=f"{m.weights or 'random'}:{weights_id(name, weights)}", dropout=m.dropout,
        train_counts={h.name: data.counts(i).tolist() for i, h in enumerate(data.heads)},
        spec=spec.to_dict())
    model = build_model(card, weights)
    found = imagenet_classifier(name, weights)
    if found is not None and m.weights == "imagenet":
        model.keep_imagenet(*found)
    return model, card


def set_trainable(model: FieldguideNet, mode: str, blocks: int) -> list[nn.Parameter]:
    """Full: everything. Partial: the heads and the last ``blocks`` stage groups of timm's
    coarse grouping (e.g. EfficientNet's last blocks + conv head). Probe: heads only."""
    for p in model.backbone.parameters():
        p.requires_grad = mode == "full"
    if mode == "partial":
        from timm.models import group_parameters

        bb: Any = model.backbone
        groups = group_parameters(bb, bb.group_matcher(coarse=True))
        names = {n for g in list(groups.values())[-blocks:] for n in g}
        for n, p in bb.named_parameters():
            p.requires_grad = n in names
    return [p for p in model.parameters() if p.requires_grad]


def freeze_frozen_norms(model: nn.Module) -> None:
    """BatchNorm layers whose weights are frozen keep their ImageNet statistics."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None \
                and not m.weight.requires_grad:
            m.eval()


def make_optimizer(spec: TrainSpec, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    o = spec.optim
    if o.optimizer == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    if o.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=o.lr, alpha=o.alpha, eps=o.eps,
                                   momentum=o.momentum, weight_decay=o.weight_decay)
    return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay, eps=o.eps)


def make_scheduler(spec: TrainSpec, opt: torch.optim.Optimizer
                   ) -> torch.optim.lr_scheduler.LRScheduler:
    """Stepped once per epoch: constant, step decay (x gamma every N epochs) or cosine."""
    o = spec.optim

    def factor(epoch: int) -> float:
        if o.schedule == "step":
            return float(o.gamma ** (epoch // max(o.step_epochs, 1)))
        if o.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * epoch / max(o.epochs, 1)))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)

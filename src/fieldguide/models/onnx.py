"""ONNX export (one named output per head) with a check against PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from fieldguide.models.card import ModelCard, write_card
from fieldguide.models.heads import FieldguideNet


class _Outputs(nn.Module):
    """A tuple of outputs in ``FieldguideNet.output_names`` order: ONNX has no dict outputs."""

    def __init__(self, model: FieldguideNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        feats = self.model.features(x)
        out = self.model.heads(feats)
        extra = (self.model.imagenet(feats),) if self.model.imagenet is not None else ()
        return (*(out[name] for name in self.model.head_names), feats, *extra)


def export_onnx(model: FieldguideNet, card: ModelCard, folder: Path, opset: int = 18,
                atol: float = 1e-4) -> Path:
    """Write ``model.onnx`` into the artefact folder, verify it, record it in the card."""
    model = model.eval().cpu()
    size = card.preprocessing.size
    path = Path(folder) / "model.onnx"
    example = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1, max=4096)
    names = model.output_names
    torch.onnx.export(
        _Outputs(model).eval(), (example,), str(path), input_names=["image"],
        output_names=names, opset_version=opset, dynamo=True,
        dynamic_shapes={"x": {0: batch}}, external_data=False, verbose=False)
    diff = onnx_max_diff(model, path, example.numpy())
    if diff > atol:
        raise RuntimeError(f"ONNX outputs differ from PyTorch by {diff:.2e} (> {atol})")
    card.onnx = path.name
    card.outputs = names
    write_card(card, Path(folder))
    return path


def onnx_max_diff(model: FieldguideNet, path: Path, images: np.ndarray) -> float:
    """Largest absolute difference between ONNX Runtime and PyTorch over every output."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": images.astype(np.float32)})
    with torch.no_grad():
        want = _Outputs(model.eval())(torch.from_numpy(images))
    return max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))


class _Encoder(nn.Module):
    """Pooled features, and the ImageNet logits where the weights carry the classifier."""

    def __init__(self, backbone: nn.Module, imagenet: nn.Linear | None) -> None:
        super().__init__()
        self.backbone, self.imagenet = backbone, imagenet

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        feats = self.backbone(x)
        return (feats, self.imagenet(feats)) if self.imagenet is not None else (feats,)


def export_encoder(name: str, weights: str | Path | None, size: int, path: Path,
                   opset: int = 18, atol: float = 1e-4) -> Path:
    """A timm backbone as an encoder graph (``pixels`` -> ``features`` [+ ``imagenet``]),
    checked against PyTorch (see ``fieldguide.models.encoders``)."""
    from fieldguide.models.registry import create_backbone, imagenet_classifier

    backbone = create_backbone(name, weights, num_classes=0).eval()
    found = imagenet_classifier(name, weights)
    head = None
    if found is not None:
        head = nn.Linear(found[0].shape[1], 1000)
        with torch.no_grad():
            head.weight.copy_(found[0])
            head.bias.copy_(found[1])
    module = _Encoder(backbone, head).eval()
    example = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    names = ["features", *(["imagenet"] if head is not None else [])]
    torch.onnx.export(module, (example,), str(path), input_names=["pixels"], output_names=names,
                      opset_version=opset, dynamo=True,
                      dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=4096)}},
                      external_data=False, verbose=False)
    import onnxruntime as ort

    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"pixels": example.numpy()})
    with torch.no_grad():
        want = module(example)
    diff = max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))
    if diff > atol:
        raise RuntimeError(f"ONNX encoder differs from PyTorch by {diff:.2e} (> {atol})")
    return path

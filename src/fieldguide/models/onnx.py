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

"""``train(spec)``: the one entry point of training. A spec naming embeddings (vectors
computed before) fits a heads-only model in ``embedding_probe``; a probe on ONNX encoders (a
backbone that exists only as ONNX, or a concatenation) runs in ``encoder_probe``; neither
needs PyTorch. Every other run (a probe on one timm backbone, partial or full fine-tuning)
runs in ``loop``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fieldguide.training.result import TrainResult
from fieldguide.training.spec import TrainSpec, on_encoders


def train(spec: TrainSpec, out: Path | None = None, *, resume: bool = False,
          on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Run a spec end to end; ``resume`` continues from ``<out>/checkpoints/last.pt`` (a probe
    on encoders resumes from its embedding stores)."""
    if spec.data.embeddings:
        from fieldguide.training.embedding_probe import train_on_embeddings

        return train_on_embeddings(spec, out)
    if on_encoders(spec):
        from fieldguide.training.encoder_probe import train_on_encoders

        return train_on_encoders(spec, out)
    from fieldguide.training.loop import train as train_torch

    return train_torch(spec, out, resume=resume, on_epoch=on_epoch)

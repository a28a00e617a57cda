"""``train(spec)``: the one entry point of training. A probe on ONNX encoders (a backbone that
exists only as ONNX, or a concatenation) runs in ``encoder_probe`` without PyTorch; every
other run (a probe on one timm backbone, partial or full fine-tuning) in ``loop``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fieldguide.training.result import TrainResult
from fieldguide.training.spec import TrainSpec, on_encoders


def train(spec: TrainSpec, out: Path | None = None, *, resume: bool = False,
          on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Run a spec end to end; ``resume`` continues from ``<out>/checkpoints/last.pt`` (a probe
    on encoders resumes from its embedding cache)."""
    if on_encoders(spec):
        from fieldguide.training.encoder_probe import train_on_encoders

        return train_on_encoders(spec, out)
    from fieldguide.training.loop import train as train_torch

    return train_torch(spec, out, resume=resume, on_epoch=on_epoch)

"""int8 versions of an artefact's ONNX export, for phones and for CPU-bound batch runs.

``dynamic`` quantises weights only and computes activations' scales at run time (no data
needed; ORT's ConvInteger is often no faster than fp32 convolutions). ``static`` writes a QDQ
graph with per-channel weights and activation ranges measured on calibration photos, which
ORT fuses into QLinearConv: the variant that speeds up convolutional networks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fieldguide.identification.classifier import Classifier
from fieldguide.models.pixels import load_crop, normalise


class _Photos:
    """The calibration photos as ORT's CalibrationDataReader wants them, one batch a call."""

    def __init__(self, model: Classifier, paths: Sequence[str], batch_size: int = 16) -> None:
        crops = [c for c in (load_crop(p, model.crop) for p in paths) if not isinstance(c, str)]
        self.batches = [normalise(np.stack(crops[i:i + batch_size]), model.mean, model.std)
                        for i in range(0, len(crops), batch_size)]
        self.name = model.input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        return {self.name: self.batches.pop()} if self.batches else None


def quantise(folder: Path, method: str = "static", calibration: Sequence[str] = (),
             out: Path | None = None) -> Path:
    """Write ``model.int8.onnx`` (or ``out``) next to the fp32 export and return its path."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = Classifier(folder, threads=1)
    out = out or Path(folder) / "model.int8.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(model.path), str(prepared), skip_symbolic_shape=True)
        if method == "dynamic":
            quantize_dynamic(prepared, out, weight_type=QuantType.QInt8)
        elif method == "static":
            if not calibration:
                raise ValueError("static quantisation needs calibration photos")
            reader = _Photos(model, calibration)
            CalibrationDataReader.register(_Photos)
            quantize_static(prepared, out, reader,
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        else:
            raise ValueError(f"method must be static or dynamic, not {method!r}")
    return out

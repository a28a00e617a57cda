"""A hand-built ONNX model that tells red, green and blue photos apart: pooled colour ->
linear layer, so identification is tested end to end in milliseconds (no torch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CLASSES = ["blue", "green", "red"]
TAXONOMY = {"blue": {"genus": "Cool", "family": "Colour"},
            "green": {"genus": "Cool", "family": "Colour"},
            "red": {"genus": "Warm", "family": "Colour"}}
COLOURS = {"blue": (20, 30, 230), "green": (30, 220, 40), "red": (230, 30, 20)}


def write_tiny_model(folder: Path, size: int = 8, scale: float = 4.0) -> Path:
    """model.json + model.onnx: logits = scale * (mean channel values) in class order."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    weight = np.zeros((3, 3), dtype=np.float32)  # (classes, channels): blue, green, red
    weight[0, 2] = weight[1, 1] = weight[2, 0] = scale
    nodes = [helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("Gemm", ["flat", "w", "b"], ["taxon"], transB=1)]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, size, size])],
        [helper.make_tensor_value_info("taxon", TensorProto.FLOAT, ["n", 3])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.zeros(3, np.float32),
                                                                       "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, folder / "model.onnx")
    card = {
        "format": "fieldguide-model/1", "backbone": "tiny", "weights": "random",
        "heads": [{"name": "taxon", "kind": "species", "column": "taxon", "classes": CLASSES}],
        "primary": "taxon", "taxonomy": TAXONOMY,
        "preprocessing": {"size": size, "crop_pct": 1.0, "mean": [0.0, 0.0, 0.0],
                          "std": [1.0, 1.0, 1.0], "interpolation": "bilinear"},
        "metrics": {"top1": 1.0}, "temperature": None, "onnx": "model.onnx",
    }
    (folder / "model.json").write_text(json.dumps(card))
    return folder


def write_photos(folder: Path, n: int, size: tuple[int, int] = (24, 16)) -> list[tuple[str, str]]:
    """n noisy JPEGs cycling through the colours; returns (path, label) pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        label = CLASSES[i % 3]
        base = np.array(COLOURS[label], dtype=np.float64)
        noisy = base + rng.normal(0, 60, (size[1], size[0], 3))
        path = folder / f"p{i:04d}.jpg"
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, quality=90)
        out.append((str(path), label))
    return out


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "model")

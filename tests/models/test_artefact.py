from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fieldguide.errors import InputError
from fieldguide.models.artefact import ModelCard, load_model, read_card, save_model
from fieldguide.models.heads import FieldguideNet, HeadSpec
from fieldguide.models.onnx import export_onnx
from fieldguide.models.registry import Preprocessing, create_backbone
from fieldguide.models.runtime import OnnxModel

TAXONOMY = {"bluebell": {"genus": "Hyacinthoides"}, "daisy": {"genus": "Bellis"},
            "dandelion": {"genus": "Taraxacum"}}
HEADS = [HeadSpec("taxon", "species", "label", tuple(TAXONOMY)),
         HeadSpec("genus", "rank", "genus", ("Bellis", "Hyacinthoides", "Taraxacum")),
         HeadSpec("phenology2", "trait", "phenology2", ("0", "1"))]


@pytest.fixture(scope="module")
def artefact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    card = ModelCard("test_efficientnet", HEADS, Preprocessing(48, 0.875, (0.5,) * 3, (0.5,) * 3),
                     TAXONOMY, train_counts={"taxon": [60, 60, 60]}, metrics={"test_top1": 0.5})
    net = FieldguideNet(create_backbone("test_efficientnet"), HEADS, TAXONOMY).eval()
    folder = tmp_path_factory.mktemp("model")
    save_model(net, card, folder)
    export_onnx(net, card, folder)
    return folder


def test_roundtrip_and_card(artefact: Path) -> None:
    model, card = load_model(artefact)
    assert card.primary.name == "taxon" and card.onnx == "model.onnx"
    assert card.taxonomy["daisy"]["genus"] == "Bellis" and card.temperature is None
    raw = json.loads((artefact / "model.json").read_text())
    assert raw["preprocessing"]["mean"] == [0.5] * 3 and raw["backbone"] == "test_efficientnet"
    again, _ = load_model(artefact)
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x)["genus"], again(x)["genus"])
    with pytest.raises(InputError, match=r"no model\.json"):
        read_card(artefact / "nothing")


def test_onnx_runtime_matches_pytorch_on_photos(artefact: Path, shared_data: Path) -> None:
    photos = sorted((shared_data / "images/oxford_flowers12/test/daisy").glob("*.jpg"))[:3]
    onnx = OnnxModel(artefact)
    got = onnx.predict(photos)
    model, card = load_model(artefact)
    from fieldguide.training.predict import predict

    want, ok = predict(model, photos, card.preprocessing.to_dict(), workers=0)
    assert ok.all() and onnx.classes() == list(TAXONOMY)
    for head in ("taxon", "genus", "phenology2"):
        np.testing.assert_allclose(got[head], want[head], atol=1e-4)


def test_runtime_does_not_import_torch(artefact: Path, shared_data: Path) -> None:
    photo = sorted((shared_data / "images/oxford_flowers12/test/iris").glob("*.jpg"))[0]
    code = ("import sys; from fieldguide.models.runtime import OnnxModel; "
            f"p = OnnxModel({str(artefact)!r}).predict([{str(photo)!r}]); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(p['taxon'].shape)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 3)"

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fieldguide.errors import InputError
from fieldguide.identification import Classifier
from fieldguide.models.artefact import load_model, save_model
from fieldguide.models.card import HeadSpec, ModelCard, Preprocessing, read_card
from fieldguide.models.heads import FieldguideNet
from fieldguide.models.onnx import export_onnx
from fieldguide.models.pixels import Crop, load_crop, normalise
from fieldguide.models.registry import create_backbone

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
    assert card.lineage["daisy"]["genus"] == "Bellis" and card.temperature is None
    assert card.outputs == ["taxon", "genus", "phenology2", "embedding"]
    raw = json.loads((artefact / "model.json").read_text())
    assert raw["preprocessing"]["mean"] == [0.5] * 3 and raw["backbone"] == "test_efficientnet"
    again, _ = load_model(artefact)
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x)["genus"], again(x)["genus"])
    with pytest.raises(InputError, match=r"no model\.json"):
        read_card(artefact / "nothing")


def awkward_photos(folder: Path, flower: Path) -> list[Path]:
    """One real photo in every shape phones and scanners produce: RGBA with transparency,
    16-bit grey, CMYK, palette with a transparent index, EXIF-rotated JPEG."""
    from PIL import Image

    folder.mkdir(exist_ok=True)
    base = Image.open(flower).convert("RGB")
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(base.size))
    rgba.save(folder / "rgba.png")
    grey16 = (np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(folder / "grey16.png")
    base.convert("CMYK").save(folder / "cmyk.jpg")
    pal = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    pal.info["transparency"] = 0
    pal.save(folder / "palette.png", transparency=0)
    exif = Image.Exif()
    exif[0x0112] = 6
    base.save(folder / "rotated.jpg", exif=exif, quality=92)
    return sorted(folder.iterdir())


def test_torch_and_onnx_agree_on_the_production_path(artefact: Path, shared_data: Path,
                                                     tmp_path: Path) -> None:
    """The pixels identification decodes, fed to PyTorch and to ONNX Runtime, give the same
    outputs (every head and the embedding) to 1e-4, for every awkward photo kind."""
    flower = sorted((shared_data / "images/oxford_flowers12/test/daisy").glob("*.jpg"))[0]
    photos = [*awkward_photos(tmp_path / "awkward", flower), flower]
    clf = Classifier(artefact, threads=1)
    crops = [load_crop(p, clf.crop) for p in photos]
    assert all(isinstance(c, np.ndarray) for c in crops), crops
    batch = np.stack([c for c in crops if isinstance(c, np.ndarray)])
    got = clf.run(batch)
    model, card = load_model(artefact)
    x = torch.from_numpy(normalise(batch, card.preprocessing.mean, card.preprocessing.std))
    with torch.no_grad():
        feats = model.features(x)
        want = model.heads(feats)
    assert clf.classes == list(TAXONOMY) and set(got) >= {"taxon", "genus", "embedding"}
    for head in ("taxon", "genus", "phenology2"):
        np.testing.assert_allclose(got[head], want[head].numpy(), atol=1e-4)
    np.testing.assert_allclose(got["embedding"], feats.numpy(), atol=1e-4)
    np.testing.assert_allclose(got["logits"], got["taxon"])


def test_evaluation_sees_the_pixels_identification_sees(artefact: Path,
                                                        shared_data: Path) -> None:
    """training.predict (PyTorch, the evaluation stage) and the ONNX classifier agree."""
    from fieldguide.identification.posterior import softmax
    from fieldguide.training.predict import predict

    photos = sorted((shared_data / "images/oxford_flowers12/test/daisy").glob("*.jpg"))[:3]
    model, card = load_model(artefact)
    want, ok = predict(model, photos, card.preprocessing.to_dict(), workers=0)
    clf = Classifier(artefact, threads=1)
    crops = np.stack([load_crop(p, Crop.from_card(card.preprocessing)) for p in photos])
    assert ok.all()
    np.testing.assert_allclose(softmax(clf.logits(crops)), want["taxon"], atol=1e-4)


def test_identification_does_not_import_torch(artefact: Path, shared_data: Path) -> None:
    photo = sorted((shared_data / "images/oxford_flowers12/test/iris").glob("*.jpg"))[0]
    code = ("import sys, numpy as np; from fieldguide.identification import Classifier; "
            "from fieldguide.models.pixels import load_crop; "
            f"c = Classifier({str(artefact)!r}); "
            f"p = c.logits(np.stack([load_crop({str(photo)!r}, c.crop)])); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(p.shape)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 3)"



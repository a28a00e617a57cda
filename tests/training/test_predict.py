from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fieldguide.errors import InputError
from fieldguide.training.loop import train
from fieldguide.training.predict import predict_split
from fieldguide.training.spec import parse_spec
from tests.training.conftest import tiny_spec


@pytest.fixture(scope="module")
def model(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("predict") / "run"
    result = train(parse_spec(tiny_spec(photos, out, mode="linear-probe")))
    assert result.model_dir is not None
    return result.model_dir


def test_predict_split_scores_the_test_photos(model: Path, photos: Path) -> None:
    pred = predict_split(model, photos, "test")
    assert pred.probs.shape == (6, 3) and np.allclose(pred.probs.sum(1), 1, atol=1e-5)
    assert pred.class_names == ["Bellis annua", "Bellis perennis", "Taraxacum officinale"]
    assert pred.train_counts is not None and pred.train_counts.tolist() == [6, 6, 6]
    assert pred.skipped == 0 and pred.photo_ids[0].startswith("test-")


def test_unknown_class_and_broken_photo(model: Path, photos: Path, tmp_path: Path) -> None:
    lines = photos.read_text().splitlines()
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    broken = f"x,{tmp_path / 'broken.jpg'},Bellis annua,Bellis,1,test"
    manifest = photos.parent / "predict-broken.csv"
    manifest.write_text("\n".join([*lines, broken]) + "\n")
    assert predict_split(model, manifest, "test").skipped == 1
    manifest.write_text("\n".join([*lines, broken.replace("Bellis annua", "Viola")]) + "\n")
    with pytest.raises(InputError, match="'Viola' is not one the model knows"):
        predict_split(model, manifest, "test")

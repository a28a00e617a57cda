"""The model card validates model.json on read: each bad card is one InputError naming the
key, never a JSON or NumPy traceback; a missing rank is absent, never the text "None"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fieldguide.errors import InputError
from fieldguide.identification import Classifier
from fieldguide.models.card import ModelCard, read_card, update_card, write_card
from tests.identification.conftest import write_tiny_model


def card_dict(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "model.json").read_text())
    return data


def rewrite(folder: Path, **changes: Any) -> Path:
    data = card_dict(folder)
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    (folder / "model.json").write_text(json.dumps(data))
    return folder


BAD: list[tuple[dict[str, Any], str]] = [
    ({"format": "other/1"}, "format"),
    ({"heads": []}, "heads"),
    ({"heads": [{"name": "taxon", "kind": "weird", "classes": ["a"]}]}, "heads[0].kind"),
    ({"heads": [{"name": "taxon", "kind": "species", "classes": ["a", "a"]}]},
     "heads[0].classes"),
    ({"heads": "taxon"}, "heads"),
    ({"primary": "genus"}, "primary"),
    ({"temperature": 0}, "temperature"),
    ({"temperature": -1.5}, "temperature"),
    ({"temperature": "hot"}, "temperature"),
    ({"preprocessing": {"size": 0, "crop_pct": 1, "mean": [0, 0, 0], "std": [1, 1, 1],
                        "interpolation": "bilinear"}}, "preprocessing.size"),
    ({"preprocessing": {"size": 8, "crop_pct": 3, "mean": [0, 0, 0], "std": [1, 1, 1],
                        "interpolation": "bilinear"}}, "preprocessing.crop_pct"),
    ({"preprocessing": {"size": 8, "crop_pct": 1, "mean": [0, 0, 0], "std": [0, 1, 1],
                        "interpolation": "bilinear"}}, "preprocessing.std"),
    ({"preprocessing": {"size": 8, "crop_pct": 1, "mean": [0, 0], "std": [1, 1, 1],
                        "interpolation": "bilinear"}}, "preprocessing.mean"),
    ({"preprocessing": {"size": 8, "crop_pct": 1, "mean": [0, 0, 0], "std": [1, 1, 1],
                        "interpolation": "lanczos9"}}, "preprocessing.interpolation"),
    ({"preprocessing": ...}, "preprocessing"),
    ({"taxonomy": ["a"]}, "lineage"),
    ({"metrics": [1]}, "metrics"),
]


@pytest.mark.parametrize(("change", "key"), BAD)
def test_bad_cards_name_the_key(tmp_path: Path, change: dict[str, Any], key: str) -> None:
    folder = rewrite(write_tiny_model(tmp_path / "m"), **change)
    with pytest.raises(InputError) as err:
        read_card(folder)
    assert err.value.field == key and str(folder / "model.json") in str(err.value)


def test_not_json_not_utf8_not_a_mapping(tmp_path: Path) -> None:
    folder = write_tiny_model(tmp_path / "m")
    (folder / "model.json").write_text('{"format": ')
    with pytest.raises(InputError, match="invalid JSON"):
        read_card(folder)
    (folder / "model.json").write_bytes(b'{"name": "\xff"}')
    with pytest.raises(InputError, match="not UTF-8"):
        read_card(folder)
    (folder / "model.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON object"):
        read_card(folder)
    with pytest.raises(InputError, match="not a model folder"):
        read_card(tmp_path / "absent")


def test_class_count_must_match_the_onnx_output(tmp_path: Path) -> None:
    folder = write_tiny_model(tmp_path / "m")
    heads = card_dict(folder)["heads"]
    heads[0]["classes"] = ["blue", "green"]
    rewrite(folder, heads=heads)
    with pytest.raises(InputError, match="2 classes but the ONNX output has 3"):
        Classifier(folder)


def test_truncated_or_non_onnx_model_is_one_error(tmp_path: Path) -> None:
    folder = write_tiny_model(tmp_path / "m")
    data = (folder / "model.onnx").read_bytes()
    (folder / "model.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="not a usable ONNX model"):
        Classifier(folder)
    (folder / "model.onnx").write_text("hello")
    with pytest.raises(InputError, match="not a usable ONNX model"):
        Classifier(folder)


def test_missing_ranks_are_absent_never_none(tmp_path: Path) -> None:
    folder = rewrite(write_tiny_model(tmp_path / "m"),
                     taxonomy={"blue": {"genus": "None", "family": ""}, "green": {"genus": None},
                               "red": {"genus": "Warm"}})
    card = read_card(folder)
    assert card.lineage == {"blue": {}, "green": {}, "red": {"genus": "Warm"}}
    write_card(card, folder)
    assert "None" not in (folder / "model.json").read_text().replace('"null"', "")
    tree = Classifier(folder).tree()
    assert tree.names["genus"] == ("Warm",) and tree.member["genus"].tolist() == [-1, -1, 0]


def test_update_card_keeps_everything_else(tmp_path: Path) -> None:
    folder = write_tiny_model(tmp_path / "m")
    before = read_card(folder)
    after = update_card(folder, temperature=1.7)
    assert after.temperature == 1.7 and read_card(folder).temperature == 1.7
    assert read_card(folder).classes == before.classes
    with pytest.raises(InputError, match="temperature"):
        update_card(folder, temperature=-1.0)
    assert read_card(folder).temperature == 1.7
    assert isinstance(ModelCard.from_dict(before.to_dict()), ModelCard)

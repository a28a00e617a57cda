from __future__ import annotations

from pathlib import Path

import pytest

from fieldguide.errors import InputError
from fieldguide.training.spec import load_spec, parse_spec

BASE = {"data": {"manifest": "m.csv"}}
SPECS = Path(__file__).resolve().parents[2] / "specs"


def test_unknown_key_is_named() -> None:
    with pytest.raises(InputError, match=r"unknown key 'optim\.learning_rate'"):
        parse_spec({**BASE, "optim": {"learning_rate": 0.1}})
    with pytest.raises(InputError, match="unknown key 'epochs'"):
        parse_spec({**BASE, "epochs": 3})


def test_unknown_key_fails_before_any_work(tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text('mode = "full"\n[data]\nmanifest = "does-not-exist.csv"\nbogus = 1\n')
    with pytest.raises(InputError) as err:
        load_spec(spec)
    assert err.value.field == "data.bogus"


def test_types_and_choices_are_checked() -> None:
    with pytest.raises(InputError, match="expected int"):
        parse_spec({**BASE, "optim": {"epochs": "3"}})
    with pytest.raises(InputError, match="not one of"):
        parse_spec({**BASE, "mode": "finetune"})
    with pytest.raises(InputError, match="manifest"):
        parse_spec({})


def test_presets_then_overrides() -> None:
    reeb = parse_spec({**BASE, "preset": "reeb2022"})
    assert (reeb.model.backbone, reeb.optim.lr, reeb.optim.batch_size, reeb.optim.epochs) == (
        "resnet18", 0.001, 4, 25)
    inat = parse_spec({**BASE, "preset": "inat2017", "optim": {"epochs": 8}})
    assert (inat.optim.optimizer, inat.optim.lr, inat.optim.gamma, inat.optim.step_epochs) == (
        "rmsprop", 0.0045, 0.94, 4)
    assert inat.model.image_size == 299 and inat.optim.epochs == 8
    with pytest.raises(InputError, match="unknown preset"):
        parse_spec({**BASE, "preset": "nope"})


def test_shipped_specs_parse() -> None:
    from fieldguide.family import is_family_spec, load_family_spec

    for path in sorted(SPECS.glob("*.toml")):
        if is_family_spec(path):  # a family of models (docs/family.md), read by its own reader
            assert load_family_spec(path).manifest.name == "labels.csv"
            continue
        spec = load_spec(path)
        assert spec.resolve(spec.data.manifest).name == "labels.csv"

"""The model card reader and the two spec loaders on arbitrary bytes, and on valid-shaped
documents with one value replaced, removed or added: each is read, or refused as one line
naming the file; never a traceback."""

from __future__ import annotations

import copy
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldguide.curation import load_spec as load_dataset_spec
from fieldguide.models.card import read_card
from fieldguide.training.spec import load_spec as load_train_spec
from tests.fuzz.conftest import FUZZ, Workdirs, ingested_or_refused

REPO = Path(__file__).resolve().parents[2]
SCALAR = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=10),
    st.sampled_from(["", "NA", "..", "/etc/passwd", "random", "species", "lite0", "imagenet",
                     "temporal", "parquet", "report", "linear-probe", "0", "-1", "1e309"]),
    st.integers(-3, 3),
)
VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(min_size=1, max_size=6), inner, max_size=3), max_leaves=8)

DATASET = {
    "name": "fuzz", "seed": 0, "description": "a fuzzed spec",
    "step": [{"rule": "temporal", "cutoff_year": 2017, "later_fraction": 0.5},
             {"rule": "genus_subsample", "fraction": 0.5},
             {"rule": "photos_per_taxon", "max": 1000, "cell_degrees": 1.0},
             {"rule": "duplicates", "exact": True, "near": True, "max_distance": 4,
              "missing": "report"},
             {"rule": "trait_labelled", "trait": "open_flowers", "values": ["1", "0"]}],
    "split": {"method": "inat2017", "test_observers": 0.4, "val_max_photos": 30},
    "output": {"traits": ["phenology2"], "formats": ["parquet", "csv"],
               "superclass_rank": "kingdom"},
}
TRAINING = tomllib.loads((REPO / "specs" / "oxford12-probe.toml").read_text())
CARD = {
    "format": "fieldguide-model/1", "name": "m", "version": "1", "backbone": "lite0",
    "weights": "random", "primary": "taxon", "outputs": ["taxon"], "dropout": 0.0,
    "heads": [{"name": "taxon", "kind": "species", "column": "label",
               "classes": ["bluebell", "daisy"]},
              {"name": "genus", "kind": "rank", "column": "genus",
               "classes": ["Bellis", "Hyacinthoides"]}],
    "lineage": {"bluebell": {"genus": "Hyacinthoides"}, "daisy": {"genus": "Bellis"}},
    "preprocessing": {"size": 48, "crop_pct": 0.875, "mean": [0.5, 0.5, 0.5],
                      "std": [0.5, 0.5, 0.5], "interpolation": "bicubic"},
    "train_counts": {}, "spec": {}, "metrics": {}, "temperature": None, "onnx": None,
    "extras": {}, "encoders": [],
}


def toml_value(value: Any) -> str:
    """TOML for a value (tables inline, so one ``key = value`` line per top-level key)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else "inf" if value > 0 and math.isinf(
            value) else "-inf" if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are TOML escapes
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}"
                           for k, v in value.items()) + "}"


def toml_document(table: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}\n"
                   for k, v in table.items())


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a nested document a value sits at."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with one to three values replaced by arbitrary ones, removed, or added."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(VALUE)
        elif action == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(VALUE)
        else:
            parent.append(draw(VALUE))
    return doc


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_dataset_spec_bytes(workdirs: Workdirs, data: bytes) -> None:
    path = workdirs.new() / "dataset.toml"
    path.write_bytes(data)
    ingested_or_refused(None, path, lambda: load_dataset_spec(path))


@FUZZ
@given(doc=mutated(DATASET))
def test_dataset_spec_values(workdirs: Workdirs, doc: dict[str, Any]) -> None:
    path = workdirs.new() / "dataset.toml"
    path.write_text(toml_document(doc), encoding="utf-8")
    ingested_or_refused(None, path, lambda: load_dataset_spec(path))


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_training_spec_bytes(workdirs: Workdirs, data: bytes) -> None:
    path = workdirs.new() / "train.toml"
    path.write_bytes(data)
    ingested_or_refused(None, path, lambda: load_train_spec(path))


@FUZZ
@given(doc=mutated(TRAINING))
def test_training_spec_values(workdirs: Workdirs, doc: dict[str, Any]) -> None:
    path = workdirs.new() / "train.toml"
    path.write_text(toml_document(doc), encoding="utf-8")
    ingested_or_refused(None, path, lambda: load_train_spec(path))


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode),
                      st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3)
                                   | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                                   max_leaves=10).map(lambda v: json.dumps(v).encode())))
def test_model_card_bytes(workdirs: Workdirs, data: bytes) -> None:
    folder = workdirs.new()
    (folder / "model.json").write_bytes(data)
    ingested_or_refused(None, folder, lambda: read_card(folder))


@FUZZ
@given(doc=mutated(CARD))
def test_model_card_values(workdirs: Workdirs, doc: dict[str, Any]) -> None:
    folder = workdirs.new()
    (folder / "model.json").write_text(json.dumps(doc), encoding="utf-8")
    ingested_or_refused(None, folder, lambda: read_card(folder))


def test_the_fuzzed_documents_start_valid(tmp_path: Path) -> None:
    """The bases mutated above are themselves accepted, so mutations probe real checks."""
    (tmp_path / "dataset.toml").write_text(toml_document(DATASET))
    load_dataset_spec(tmp_path / "dataset.toml")
    (tmp_path / "train.toml").write_text(toml_document(TRAINING))
    load_train_spec(tmp_path / "train.toml")
    (tmp_path / "model.json").write_text(json.dumps(CARD))
    read_card(tmp_path)


def _card_with(**values: str) -> str:
    body = json.dumps(CARD)[1:-1]
    return "{" + body + "".join(f', "{k}": {v}' for k, v in values.items()) + "}"


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,  # nesting deeper than the parser's recursion
    "9" * 5000,  # an integer past Python's 4,300-digit limit
    _card_with(temperature="9" * 400),  # a number no float holds
    _card_with(dropout="-" + "9" * 400),
    json.dumps({**CARD, "preprocessing": {**CARD["preprocessing"], "size": 1e400}}),
    json.dumps({**CARD, "primary": ["taxon"]}),
])
def test_model_card_edges(tmp_path: Path, text: str) -> None:
    (tmp_path / "model.json").write_text(text)
    ingested_or_refused(None, tmp_path, lambda: read_card(tmp_path))

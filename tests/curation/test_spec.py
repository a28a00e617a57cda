from __future__ import annotations

from pathlib import Path

import pytest

from fieldguide.curation import load_spec
from fieldguide.curation.spec import PhotosPerObservation, SelectTaxa, Validated
from fieldguide.errors import InputError

EXAMPLE = """\
name = "inat-research"
seed = 42

[[step]]
rule = "validated"
quality_grade = ["research"]

[[step]]
rule = "select_taxa"
min_photos = 100

[[step]]
rule = "photos_per_observation"
max = 5

[split]
method = "inat2017"

[output]
traits = ["phenology2", "life_stage"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_spec_parses_in_order(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, EXAMPLE))
    assert spec.name == "inat-research" and spec.seed == 42
    assert spec.steps == (Validated(quality_grade=("research",)), SelectTaxa(min_photos=100),
                          PhotosPerObservation(max=5))
    assert spec.split.method == "inat2017" and spec.output.traits == ("phenology2", "life_stage")


def test_docs_example_parses(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "curation.md"
    example = docs.read_text(encoding="utf-8").split("```toml\n", 1)[1].split("```", 1)[0]
    spec = load_spec(write(tmp_path, example))
    assert len(spec.steps) >= 8 and spec.split.method == "inat2017"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (EXAMPLE.replace("max = 5", "max = 5\nmaxx = 3"), "maxx"),
        (EXAMPLE + "colour = 'red'\n", "colour"),
        (EXAMPLE.replace('method = "inat2017"', 'method = "random"\ntrain = 0.9\ntest = 0.2'),
         "test"),
        (EXAMPLE.replace('method = "inat2017"', 'test_observers = 1.5'), "test_observers"),
        (EXAMPLE.replace("min_photos = 100", "min_photos = -1"), "min_photos"),
        (EXAMPLE.replace("min_photos = 100", 'min_photos = "many"'), "min_photos"),
        (EXAMPLE.replace('rule = "select_taxa"', 'rule = "select_taxon"'), "rule"),
        (EXAMPLE.replace('method = "inat2017"', 'method = "stratified"'), "method"),
        (EXAMPLE + '\n[[step]]\nrule = "trait_labelled"\ntrait = ""\n', "trait"),
    ],
)
def test_bad_specs_name_the_key_before_any_work(
    tmp_path: Path, text: str, field: str
) -> None:
    with pytest.raises(InputError) as err:
        load_spec(write(tmp_path, text))
    assert err.value.field == field
    assert err.value.line is not None
    assert text.splitlines()[err.value.line - 1].strip().startswith(field)
    assert str(tmp_path / "spec.toml") in str(err.value)


def test_missing_name_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="name"):
        load_spec(write(tmp_path, "seed = 1\n"))
    with pytest.raises(InputError, match="not valid TOML"):
        load_spec(write(tmp_path, "name = \n"))
    with pytest.raises(InputError, match="not found"):
        load_spec(tmp_path / "nope.toml")

"""Dataset spec values checked against what exists, through the real CLI: a rank outside the
vocabulary, a source, vote method or trait the study lacks, a spec that is not UTF-8. Each is
refused with exit code 2 and one line on stderr naming the spec file, the key and its line,
before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.curation import parse_spec
from fieldguide.curation.spec import StudyFacts, check_against_study
from fieldguide.errors import InputError

runner = CliRunner()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A real study: the Oxford flowers folder, the Rudbeckia hirta iNaturalist export with its
    ImageAnt phenology labels, and the Pl@ntNet toy votes aggregated by majority."""
    root = tmp_path_factory.mktemp("refusals") / "study"
    taylor = shared_data / "observations" / "inat_flowering_taylor2019"
    votes = shared_data / "votes" / "plantnet_toy" / "normalized" / "votes.csv"
    for args in (
        ["ingest", "images", str(shared_data / "images" / "oxford_flowers12")],
        ["ingest", "inat", str(taylor / "inat_rudbeckia_hirta.csv")],
        ["ingest", "traits", str(taylor / "labels_imageant_rudbeckia.csv"),
         "--trait", "open_flowers=open_flowers", "--trait", "flower_buds=flowers"],
        ["aggregate", str(votes), "-m", "majority", "-o", str(root.parent / "labels.csv")],
    ):
        done = runner.invoke(app, [*args, "-s", str(root)])
        assert done.exit_code == 0, done.output
    return root


def build(tmp_path: Path, study: Path, spec_text: str | bytes) -> tuple[int, list[str], Path]:
    spec = tmp_path / "dataset.toml"
    if isinstance(spec_text, bytes):
        spec.write_bytes(spec_text)
    else:
        spec.write_text(spec_text, encoding="utf-8")
    out = tmp_path / "out"
    done = runner.invoke(app, ["dataset", "build", str(spec), "-o", str(out), "-s", str(study)])
    return done.exit_code, done.stderr.strip().splitlines(), out


REFUSED = [
    pytest.param('name = "x"\n[[step]]\nrule = "taxonomy"\nrank = "galaxy"\n',
                 "line 4, field 'rank'", "'galaxy' is not a rank", id="taxonomy-rank"),
    pytest.param('name = "x"\n[output]\nsuperclass_rank = "galaxy"\n',
                 "line 3, field 'superclass_rank'", "'galaxy' is not a rank",
                 id="superclass-rank"),
    pytest.param('name = "x"\n[[step]]\nrule = "select_taxa"\nrollup_rank = "Genus"\n',
                 "line 4, field 'rollup_rank'", "did you mean 'genus'?", id="rank-spelling"),
    pytest.param('name = "x"\n[output]\ntraits = ["phenology2", "open_flower"]\n',
                 "line 3, field 'traits'",
                 "the study has no trait 'open_flower' (did you mean 'open_flowers'",
                 id="output-trait"),
    pytest.param('name = "x"\n[[step]]\nrule = "trait_labelled"\ntrait = "fruits"\n',
                 "line 4, field 'trait'", "the study has no trait 'fruits'", id="step-trait"),
    pytest.param('name = "x"\n[[step]]\nrule = "validated"\nmethod = "dawid-skene"\n',
                 "line 4, field 'method'",
                 "the study has no labels by method 'dawid-skene' (it has: majority)",
                 id="validated-method"),
    pytest.param('name = "x"\n[[step]]\nrule = "sources"\nkeep = ["folder", "inaturalst"]\n',
                 "line 4, field 'keep'",
                 "the study has no source 'inaturalst' (did you mean 'inaturalist'?",
                 id="source"),
    pytest.param(b'name = "caf\xe9"\n', "line 1", "not utf-8 text", id="not-utf8"),
]


@pytest.mark.parametrize(("spec_text", "where", "reason"), REFUSED)
def test_a_value_the_study_or_vocabulary_lacks_is_one_line_and_nothing_is_written(
    tmp_path: Path, study: Path, spec_text: str | bytes, where: str, reason: str
) -> None:
    code, lines, out = build(tmp_path, study, spec_text)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {tmp_path / 'dataset.toml'}, {where}: "), lines[0]
    assert reason in lines[0]
    assert not out.exists()


def test_the_names_the_study_has_build(tmp_path: Path, study: Path) -> None:
    """The same keys with names the study holds are accepted: the checks refuse no real spec."""
    code, lines, out = build(tmp_path, study, """\
name = "rudbeckia"
[[step]]
rule = "sources"
keep = ["inaturalist"]
[[step]]
rule = "taxonomy"
rank = "species"
[[step]]
rule = "trait_labelled"
trait = "open_flowers"
[[step]]
rule = "select_taxa"
rare = "rollup"
rollup_rank = "genus"
[split]
method = "random"
[output]
traits = ["phenology2", "phenology4", "flower_buds"]
superclass_rank = "kingdom"
plots = false
""")
    assert code == 0, lines
    assert (out / "manifest.parquet").is_file()


def test_every_study_check_names_its_step() -> None:
    """Bound to a study without files: the facts alone decide, and the step is named."""
    spec = parse_spec({"name": "x", "step": [
        {"rule": "sources", "keep": ["gbif"]},
        {"rule": "validated", "method": "majority"},
    ]}, source="s.toml")
    facts = StudyFacts(sources=frozenset({"gbif"}), label_methods=frozenset({"ds"}))
    with pytest.raises(InputError, match=r"step 2 \(validated\): the study has no labels"):
        check_against_study(spec, facts)
    check_against_study(spec, StudyFacts(sources=frozenset({"gbif"}),
                                         label_methods=frozenset({"majority"})))


@pytest.mark.parametrize(("step", "key"), [
    ({"rule": "sources", "keep": []}, "keep"),
    ({"rule": "licences", "keep": []}, "keep"),
    ({"rule": "genus_subsample", "genera": 0}, "genera"),
    ({"rule": "genus_subsample", "fraction": 0.5, "rank": "genera"}, "rank"),
    ({"rule": "photos_per_taxon", "cell_degrees": 0}, "cell_degrees"),
    ({"rule": "duplicates", "exact": False, "near": False}, "near"),
])
def test_rules_that_could_keep_nothing_are_refused_on_reading(step: dict[str, object],
                                                              key: str) -> None:
    with pytest.raises(InputError) as err:
        parse_spec({"name": "x", "step": [step]})
    assert err.value.field == key and "\n" not in str(err.value)

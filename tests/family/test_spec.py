"""Bad family specs through the real CLI: each refused with exit code 2 and one line naming the
spec and the key, before anything is written (the data is checked before the encoder runs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.family.conftest import REPO

DATA = REPO / "tests" / "family" / "data"


def spec_text(flowers: Path, groups: str, sources: str = '"garden", "meadow"',
              customise: str = "[customise.garden]\n") -> str:
    return f"""name = "bad-family"
kind = "family"
[data]
manifest = "{flowers / 'labels.csv'}"
label = "label"
lineage = "{DATA / 'oxford12-lineage.csv'}"
[model]
backbone = "lite0"
[groups]
{groups}
[sources]
file = "{DATA / 'oxford12-sources.csv'}"
names = [{sources}]
{customise}"""


GOOD = 'a = ["Asteraceae", "Ranunculaceae"]\nb = ["Liliopsida", "Violaceae"]'


@pytest.mark.parametrize(("groups", "sources", "customise", "key", "reason"), [
    pytest.param('a = ["Asteraceae", "Ranunculaceae"]\nb = ["Liliopsida", "Rosaceae"]',
                 '"garden"', "", "groups.b", "'Rosaceae' matches no class", id="no-taxon"),
    pytest.param('a = ["Asteraceae", "Ranunculaceae"]\nb = ["Plantae"]', '"garden"', "",
                 "groups.b", "overlap", id="overlap"),
    pytest.param(GOOD, '"garden", "herbarium"', "", "sources.names",
                 "source 'herbarium' has no training photos", id="source-without-photos"),
    pytest.param(GOOD, '"garden"', "[customise.herbarium]\n", "customise.herbarium",
                 "unknown source 'herbarium'", id="unknown-customisation"),
    pytest.param('a = ["Asteraceae"]\nb = ["Liliopsida", "Violaceae"]', '"garden"', "",
                 "groups", "is in no group", id="class-in-no-group"),
    pytest.param(GOOD, '"garden"', '[traits.stage]\ngroup = "bb"\ncolumn = "label"\n',
                 "traits.stage.group", "unknown group 'bb' (did you mean 'b'?)",
                 id="trait-unknown-group"),
    pytest.param(GOOD, '"garden"', '[traits.stage]\ngroup = "b"\ncolumn = "stage"\n',
                 "traits.stage.column", "unknown column 'stage'", id="trait-unknown-column"),
])
def test_refused_in_one_line(tmp_path: Path, flowers: Path, groups: str, sources: str,
                             customise: str, key: str, reason: str) -> None:
    from fieldguide.cli.main import app

    spec = tmp_path / "family.toml"
    spec.write_text(spec_text(flowers, groups, sources, customise))
    out = tmp_path / "out"
    done = CliRunner().invoke(app, ["train", str(spec), "-o", str(out)])
    lines = done.stderr.strip().splitlines()
    assert done.exit_code == 2, done.output
    assert len(lines) == 1, lines
    assert str(spec) in lines[0] or "sources.csv" in lines[0]
    assert f"field '{key}'" in lines[0] and reason in lines[0], lines[0]
    assert not out.exists()


def test_unknown_taxon_in_local_names(tmp_path: Path, flowers: Path) -> None:
    """A source's names file naming a taxon the family lacks: one line with the closest
    names, the file and its line, before anything is written."""
    from fieldguide.cli.main import app

    names = tmp_path / "names.csv"
    names.write_text("taxon,local_name\ndaisy,madeliefje\nBellis perennis,madeliefje\n"
                     "Tussilago farfaro,klein hoefblad\ndaisie,x\n")
    spec = tmp_path / "family.toml"
    spec.write_text(spec_text(flowers, GOOD, '"garden"',
                              f'[customise.garden]\nnames = "{names}"\n'))
    out = tmp_path / "out"
    done = CliRunner().invoke(app, ["train", str(spec), "-o", str(out)])
    lines = done.stderr.strip().splitlines()
    assert done.exit_code == 2 and len(lines) == 1, done.output
    assert str(names) in lines[0] and "line 5" in lines[0] and "field 'taxon'" in lines[0]
    assert "'daisie' is not a taxon of the family (did you mean 'daisy'?)" in lines[0]
    assert not out.exists()

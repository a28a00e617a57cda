from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from fieldguide.cli.main import app

runner = CliRunner()


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys; from fieldguide.cli.main import app; "
        "heavy = {'duckdb', 'numpy', 'pyarrow', 'torch', 'matplotlib'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ingest_then_summary(tmp_path: Path, shared_data: Path) -> None:
    study = str(tmp_path / "s")
    votes = shared_data / "votes" / "plantnet_toy" / "normalized" / "votes.csv"
    result = runner.invoke(app, ["ingest", "votes", str(votes), "-s", study])
    assert result.exit_code == 0, result.output
    assert "read 49, kept 49, rejected 0" in result.output
    result = runner.invoke(app, ["summary", "-s", study])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s" / "reports" / "summary.md").is_file()


def test_bad_input_is_one_clear_line_and_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "votes.csv"
    bad.write_text("task,worker\n1,2\n")
    result = runner.invoke(app, ["ingest", "votes", str(bad), "-s", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert f"error: {bad}, line 1, field 'label': missing required column 'label'" in (
        result.output.replace("\n", ""))


def test_summary_of_a_missing_study_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["summary", "-s", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no study here" in result.output


def test_taxonomy_match_reports_how_each_name_matched(tmp_path: Path, shared_data: Path) -> None:
    study = str(tmp_path / "s")
    gbif = shared_data / "taxonomy" / "ott_asterales_gbif_ncbi" / "gbif_aster"
    result = runner.invoke(app, ["ingest", "taxonomy", str(gbif), "--source", "gbif",
                                 "-s", study])
    assert result.exit_code == 0, result.output
    names = tmp_path / "names.txt"
    names.write_text("Campanula rotundifolia L.\nCampanula rotundifollia\nBoopidaceae\nFoo bar\n")
    out = tmp_path / "matches.csv"
    result = runner.invoke(app, ["taxonomy", "match", str(names), "-o", str(out), "-s", study])
    assert result.exit_code == 0, result.output
    rows = [line.split(",")[:2] for line in out.read_text().splitlines()[1:]]
    assert rows == [["Campanula rotundifolia L.", "canonical"],
                    ["Campanula rotundifollia", "fuzzy"], ["Boopidaceae", "synonym"],
                    ["Foo bar", "unmatched"]]


def test_aggregate_writes_labels_and_the_study(tmp_path: Path, shared_data: Path) -> None:
    votes = shared_data / "votes" / "plantnet_toy" / "normalized" / "votes.csv"
    out = tmp_path / "labels.csv"
    result = runner.invoke(app, ["aggregate", str(votes), "--method", "majority", "-o", str(out),
                                 "-s", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 21

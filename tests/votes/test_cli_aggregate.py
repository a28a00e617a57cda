"""The aggregate command through Typer: labels.csv, the study's labels table, the comparison."""

from __future__ import annotations

from pathlib import Path

import duckdb
import typer
from typer.testing import CliRunner

from fieldguide.cli.aggregate import aggregate

app = typer.Typer()
app.command("aggregate")(aggregate)
app.command("noop")(lambda: None)  # two commands: Typer keeps the sub-command name


def test_aggregate_writes_csv_and_study_and_replaces(votes_dir: Path, tmp_path: Path) -> None:
    d = votes_dir / "plantnet_toy"
    args = ["aggregate", str(d / "answers.json"), "--authors", str(d / "authors.txt"),
            "--truth", str(d / "ground_truth.txt"), "-o", str(tmp_path / "labels.csv"),
            "--study", str(tmp_path / "study")]
    for _ in range(2):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    assert "| plantnet |" in result.output
    lines = (tmp_path / "labels.csv").read_text().splitlines()
    assert lines[0] == '"task","label","conf","acc","validated"' and len(lines) == 21
    con = duckdb.connect(str(tmp_path / "study" / "fieldguide.duckdb"), read_only=True)
    n, methods = con.execute("SELECT count(*), count(DISTINCT method) FROM labels").fetchone()
    assert (n, methods) == (20, 1)  # the rerun replaced its rows


def test_compare_and_clean_errors(votes_dir: Path, tmp_path: Path) -> None:
    d = votes_dir / "labelme" / "normalized"
    base = [str(d / "votes.csv"), "-o", str(tmp_path / "l.csv"), "--study", str(tmp_path / "s")]
    result = CliRunner().invoke(app, ["aggregate", *base, "-m", "majority", "--truth",
                                      str(d / "truth.csv"), "--compare", "wawa",
                                      "--compare", "two-thirds"])
    assert result.exit_code == 0, result.output
    assert "| two-thirds |" in result.output and "| majority |" in result.output
    bad = CliRunner().invoke(app, ["aggregate", *base, "-m", "nope"])
    assert bad.exit_code == 2 and "unknown method" in bad.output
    no_ai = CliRunner().invoke(app, ["aggregate", *base, "--ai-mode", "fixed"])
    assert no_ai.exit_code == 2 and "needs AI labels" in no_ai.output

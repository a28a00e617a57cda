"""The aggregate command through Typer: labels.csv, the study's labels table, the comparison."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.csv as pacsv
import pytest
import typer
from typer.testing import CliRunner

from fieldguide.cli.aggregate import aggregate
from fieldguide.votes import create
from fieldguide.votes.io import read_votes
from fieldguide.votes.study import label_table

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


def test_a_votes_file_without_study_writes_no_study(
    votes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FIELDGUIDE_STUDY", raising=False)
    d = votes_dir / "labelme" / "normalized"
    result = CliRunner().invoke(app, ["aggregate", str(d / "votes.csv"), "-m", "majority"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "labels.csv").is_file()
    assert not (tmp_path / "study").exists()


def test_peerannot_compat_flag(votes_dir: Path, tmp_path: Path) -> None:
    d = votes_dir / "plantnet_toy"
    base = ["aggregate", str(d / "answers.json"), "--authors", str(d / "authors.txt")]
    runs = {}
    for flag in ([], ["--peerannot-compat"]):
        out = tmp_path / f"labels{len(flag)}.csv"
        result = CliRunner().invoke(app, [*base, *flag, "-o", str(out)])
        assert result.exit_code == 0, result.output
        runs[len(flag)] = out.read_text()
    table = read_votes(d / "answers.json", authors=d / "authors.txt")
    compat = create("plantnet", peerannot_compat=True).fit(table)
    expected = tmp_path / "expected.csv"
    pacsv.write_csv(label_table(table, compat), expected)
    assert runs[1] == expected.read_text()
    wrong = CliRunner().invoke(app, [*base, "-m", "majority", "--peerannot-compat"])
    assert wrong.exit_code == 2 and "needs --method plantnet" in wrong.output


def test_which_methods_take_an_ai_vote_is_the_strategies_answer(
    votes_dir: Path, tmp_path: Path
) -> None:
    from fieldguide.votes import REGISTRY

    takes_ai = {name for name in REGISTRY if type(create(name)).takes_ai}
    assert takes_ai == {"plantnet", "weighted"}
    d = votes_dir / "labelme" / "normalized"
    result = CliRunner().invoke(app, ["aggregate", str(d / "votes.csv"), "-m", "majority",
                                      "--ai-mode", "fixed", "-o", str(tmp_path / "l.csv")])
    assert result.exit_code != 0
    assert "--ai-mode needs --method plantnet or weighted" in result.output

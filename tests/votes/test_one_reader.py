"""One vote file, two routes, one answer: ``fieldguide aggregate FILE`` and ``fieldguide ingest
votes FILE`` then ``fieldguide aggregate -s STUDY`` read the file by the same reader, so a
worker named "AI" inside answers.json is the AI's vote by either route."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app


@pytest.fixture(scope="module")
def answers_with_ai(votes_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Pl@ntNet-CrowdSWE sample's answers.json with its real AI answers folded in as a
    worker "AI" (peerannot's way of carrying the AI vote), for the tasks that have votes."""
    base = votes_dir / "plantnet_crowdswe_sample"
    answers = json.loads((base / "answers" / "answers.json").read_text())
    ai = json.loads((base / "aggregation" / "ai_answers.json").read_text())
    folded = 0
    for task, by_worker in answers.items():
        if task in ai:
            by_worker["AI"] = ai[task]
            folded += 1
    assert folded == 1625  # every observation of the sample has an AI answer
    path = tmp_path_factory.mktemp("votes") / "answers.json"
    path.write_text(json.dumps(answers))
    return path


def _invoke(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("method", "options"),
    [("plantnet", []), ("plantnet", ["--ai-mode", "confident"]), ("majority", []),
     ("weighted", ["--ai-mode", "fixed"])],
)
def test_aggregating_a_file_and_its_ingested_study_give_the_same_labels(
    answers_with_ai: Path, votes_dir: Path, tmp_path: Path, method: str, options: list[str]
) -> None:
    side = votes_dir / "plantnet_crowdswe_sample" / "aggregation"
    files = ["--authors", str(side / "authors.txt"), "--ai-scores", str(side / "ai_scores.json")]
    study = tmp_path / "study"
    by_file, by_study = tmp_path / "by_file.csv", tmp_path / "by_study.csv"

    _invoke(["aggregate", str(answers_with_ai), *files, "-m", method, *options,
             "-o", str(by_file)])
    _invoke(["ingest", "votes", str(answers_with_ai), "-s", str(study), *files])
    _invoke(["aggregate", "-s", str(study), "-m", method, *options, "-o", str(by_study)])

    assert by_file.read_text() == by_study.read_text()
    assert len(by_file.read_text().splitlines()) == 1 + 1625
    con = duckdb.connect(str(study / "fieldguide.duckdb"), read_only=True)
    try:
        # The "AI" worker became the AI's predictions, not a person's identifications.
        assert con.execute("SELECT count(*) FROM identifications WHERE user_id = 'AI'"
                           ).fetchone() == (0,)
        assert con.execute("SELECT count(*), count(score) FROM predictions").fetchone() == (
            1625, 1625)
    finally:
        con.close()


def test_the_ai_worker_is_the_ai_side_file_and_moves_the_labels(
    answers_with_ai: Path, votes_dir: Path, tmp_path: Path
) -> None:
    """The comparison above is not vacuous: the folded "AI" worker reads as the AI answers
    file does, and it changes Pl@ntNet's labels when the AI votes."""
    base = votes_dir / "plantnet_crowdswe_sample"
    plain = str(base / "answers" / "answers.json")
    ai = ["--ai", str(base / "aggregation" / "ai_answers.json")]
    fixed = ["--ai-mode", "fixed"]
    runs = {"folded": [str(answers_with_ai), *fixed], "side file": [plain, *ai, *fixed],
            "no AI": [plain]}
    labels = {}
    for name, args in runs.items():
        out = tmp_path / f"{name}.csv"
        _invoke(["aggregate", *args, "-o", str(out)])
        labels[name] = out.read_text()
    assert labels["folded"] == labels["side file"] != labels["no AI"]


@pytest.mark.parametrize("method", ["plantnet", "majority"])
def test_a_votes_csv_gives_the_same_labels_by_both_routes(
    votes_dir: Path, tmp_path: Path, method: str
) -> None:
    votes = votes_dir / "labelme" / "normalized" / "votes.csv"
    by_file, by_study = tmp_path / "by_file.csv", tmp_path / "by_study.csv"
    _invoke(["aggregate", str(votes), "-m", method, "-o", str(by_file)])
    _invoke(["ingest", "votes", str(votes), "-s", str(tmp_path / "study")])
    _invoke(["aggregate", "-s", str(tmp_path / "study"), "-m", method, "-o", str(by_study)])
    assert by_file.read_text() == by_study.read_text()

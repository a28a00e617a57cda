from __future__ import annotations

import json
from pathlib import Path

import pytest

from fieldguide.errors import InputError
from fieldguide.ingest import ingest_votes
from fieldguide.store import Study
from fieldguide.store.sql import scalar

# The table in ../shared/data/README.md: tasks, workers, votes, classes.
README_COUNTS = {
    "labelme": (1000, 59, 2547, 8),
    "dog": (807, 109, 8070, 4),
    "product": (8315, 176, 24945, 2),
    "bluebirds": (108, 39, 4212, 2),
    "music": (700, 44, 2945, 10),
    "plantnet_toy": (20, 4, 49, 9),
    "plantnet_crowdswe_sample": (1625, 1627, 1749, 821),
}
ANSWERS_JSON = {
    "labelme": "answers.json",
    "music": "answers.json",
    "plantnet_toy": "answers.json",
    "bluebirds": "votes_bluebirds_peerannot.json",
    "plantnet_crowdswe_sample": "answers/answers.json",
}


def _counts(study: Study) -> tuple[int, int, int, int]:
    report = study.con.execute("""
        SELECT count(DISTINCT observation_id), count(DISTINCT user_id),
               count(*), count(DISTINCT label) FROM identifications WHERE is_current
    """).fetchall()[0]
    return tuple(int(x) for x in report)  # type: ignore[return-value]


@pytest.mark.parametrize("name", sorted(README_COUNTS))
def test_normalized_votes_csv_counts_match_the_readme(
    study: Study, shared_data: Path, name: str
) -> None:
    report = ingest_votes(study, shared_data / "votes" / name / "normalized" / "votes.csv")
    tasks, workers, votes, classes = README_COUNTS[name]
    assert report.rows_rejected == 0
    assert _counts(study)[:3] == (tasks, workers, votes)
    assert _counts(study)[3] <= classes
    assert report.counts["votes"] == votes


@pytest.mark.parametrize("name", sorted(ANSWERS_JSON))
def test_peerannot_answers_json_counts_match_the_readme(
    study: Study, shared_data: Path, name: str
) -> None:
    ingest_votes(study, shared_data / "votes" / name / ANSWERS_JSON[name])
    tasks, workers, votes, classes = README_COUNTS[name]
    assert _counts(study)[:3] == (tasks, workers, votes)
    assert _counts(study)[3] <= classes


def test_pl_ntnet_side_files_give_authors_ai_votes_and_truth(
    study: Study, shared_data: Path
) -> None:
    base = shared_data / "votes" / "plantnet_crowdswe_sample"
    report = ingest_votes(
        study,
        base / "answers" / "answers.json",
        authors=base / "aggregation" / "authors.txt",
        ai_answers=base / "aggregation" / "ai_answers.json",
        ai_scores=base / "aggregation" / "ai_scores.json",
        truth=base / "answers" / "ground_truth.txt",
    )
    assert report.counts["authors"] == 1625
    assert report.counts["AI votes"] == 1625
    # The README: every observation contains its author's vote.
    assert (
        scalar(
            study.con, "SELECT count(DISTINCT observation_id) FROM identifications WHERE is_author"
        )
        == 1625
    )
    assert scalar(study.con, "SELECT count(*) FROM predictions WHERE score IS NULL") == 0
    assert scalar(study.con, "SELECT count(*) FROM labels WHERE method = 'truth'") == 1


def test_a_workers_repeated_vote_keeps_only_the_last_as_current(
    study: Study, tmp_path: Path
) -> None:
    votes = tmp_path / "votes.csv"
    votes.write_text("task,worker,label\nt1,u1,a\nt1,u2,a\nt1,u1,b\n")
    report = ingest_votes(study, votes)
    current = study.con.execute(
        "SELECT user_id, label FROM identifications WHERE is_current ORDER BY 1"
    ).fetchall()
    assert current == [("u1", "b"), ("u2", "a")]
    assert any("earlier vote" in n for n in report.notes)


def test_reingesting_the_same_file_is_skipped(study: Study, shared_data: Path) -> None:
    path = shared_data / "votes" / "plantnet_toy" / "normalized" / "votes.csv"
    ingest_votes(study, path)
    before = study.counts()
    assert ingest_votes(study, path).skipped
    assert study.counts() == before


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        (b"", "empty", 1),
        (b"task,worker\n1,2\n", "missing required column 'label'", 1),
        (b"task,worker,label\n1,2,caf\xe9\n", "UTF-8", 2),
        (b"task,worker,label\n1,2,3\n4,5", "Expected Number of Columns", 3),
        (b"task,worker,label\n1,2,3\n4,,5\n", "empty worker", 3),
    ],
)
def test_bad_vote_files_are_refused_with_their_line_and_change_nothing(
    study: Study, tmp_path: Path, content: bytes, message: str, line: int
) -> None:
    ingest_votes(study, _write(tmp_path / "ok.csv", b"task,worker,label\nx,y,z\n"))
    before = study.counts()
    bad = _write(tmp_path / "bad.csv", content)
    with pytest.raises(InputError, match=message) as err:
        ingest_votes(study, bad)
    assert err.value.line == line
    assert err.value.path == str(bad)
    assert study.counts() == before


def test_nan_ai_score_is_refused_naming_the_task(study: Study, tmp_path: Path) -> None:
    votes = _write(tmp_path / "v.csv", b"task,worker,label\n0,a,x\n")
    (tmp_path / "ai.json").write_text(json.dumps({"0": "x"}))
    (tmp_path / "scores.json").write_text('{"0": NaN}')
    with pytest.raises(InputError, match="task 0"):
        ingest_votes(
            study, votes, ai_answers=tmp_path / "ai.json", ai_scores=tmp_path / "scores.json"
        )
    assert study.counts()["identifications"] == 0


def test_invalid_json_names_its_line(study: Study, tmp_path: Path) -> None:
    bad = _write(tmp_path / "answers.json", b'{\n "0": {"1": 2},\n "1": {\n')
    with pytest.raises(InputError, match="invalid JSON") as err:
        ingest_votes(study, bad)
    assert err.value.line is not None


def test_labels_as_taxa_strict_refuses_an_unknown_name(study: Study, tmp_path: Path) -> None:
    ingest_votes(
        study, _write(tmp_path / "a.csv", b"task,worker,label\n1,u,Echium vulgare\n"), taxa="extend"
    )
    before = study.counts()
    bad = _write(tmp_path / "b.csv", b"task,worker,label\n2,u,Echium vulgare\n3,u,Echium vulgar\n")
    with pytest.raises(InputError, match=r"unknown taxon name 'Echium vulgar'.*Echium vulgare"):
        ingest_votes(study, bad, taxa="strict")
    assert study.counts() == before


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path

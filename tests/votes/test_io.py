"""Reading votes and side files: both layouts, and every refusal names file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fieldguide.errors import InputError
from fieldguide.votes.io import LoadWarning, read_truth, read_votes


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_and_answers_json_give_the_same_table(votes_dir: Path) -> None:
    d = votes_dir / "plantnet_toy"
    a = read_votes(d / "normalized" / "votes.csv", authors=d / "authors.txt")
    b = read_votes(d / "answers.json", authors=d / "authors.txt")
    assert (a.task_names == b.task_names).all() and (a.label == b.label).all()
    assert (a.author == b.author).all() and a.n_votes == 49 and a.n_labels == 9
    truth = read_truth(d / "ground_truth.txt", a)
    assert ((truth == -1).sum(), truth[0]) == (3, 2)
    assert (truth == read_truth(d / "normalized" / "truth.csv", a)).all()


@pytest.mark.filterwarnings("ignore::fieldguide.votes.io.LoadWarning")
def test_crowdswe_sample_side_files(votes_dir: Path) -> None:
    d = votes_dir / "plantnet_crowdswe_sample"
    with pytest.warns(LoadWarning, match="3374 task"):
        votes = read_votes(d / "answers" / "answers.json", authors=d / "aggregation/authors.txt",
                           ai=d / "aggregation/ai_answers.json",
                           ai_scores=d / "aggregation/ai_scores.json")
    assert (votes.n_tasks, votes.n_votes) == (1625, 1749)
    assert votes.ai_label is not None and (votes.ai_label >= 0).all()
    assert votes.ai_score is not None and votes.ai_score[0] == pytest.approx(0.94605)
    # AI labels nobody voted for are still in the label space
    assert votes.n_labels > 821


def test_duplicates_keep_the_latest_and_are_counted(tmp_path: Path) -> None:
    csv = _write(tmp_path / "v.csv", "task,worker,label\n1,a,x\n1,a,y\n2,a,x\n")
    with pytest.warns(LoadWarning, match="1 duplicate"):
        votes = read_votes(csv)
    assert votes.n_votes == 2 and votes.label_names[votes.label[0]] == "y"


def test_refusals(tmp_path: Path) -> None:
    csv = _write(tmp_path / "v.csv", "task,worker,label\n1,a,x\n2,,y\n")
    with pytest.raises(InputError) as err:
        read_votes(csv)
    assert (err.value.line, err.value.field) == (3, "worker")
    with pytest.raises(InputError, match="missing column 'label'"):
        read_votes(_write(tmp_path / "w.csv", "task,worker\n1,a\n"))
    good = _write(tmp_path / "g.csv", "task,worker,label\n1,a,x\n2,b,z\n")
    with pytest.raises(InputError, match="outside the label space"):
        read_votes(good, label_space=["x", "y"])
    scores = _write(tmp_path / "s.json", json.dumps({"1": 0.5, "2": 1.5}))
    with pytest.raises(InputError, match="task '2'") as err:
        read_votes(good, ai_scores=scores)
    assert err.value.field == "score"
    nan = _write(tmp_path / "n.json", '{"1": NaN}')
    with pytest.raises(InputError, match="not in"):
        read_votes(good, ai_scores=nan)
    with pytest.raises(InputError, match="line 1"):
        read_votes(_write(tmp_path / "bad.json", "{oops"))
    with pytest.raises(InputError, match="not found"):
        read_votes(tmp_path / "none.csv")


def test_side_file_tasks_without_votes_are_skipped(tmp_path: Path) -> None:
    csv = _write(tmp_path / "v.csv", "task,worker,label\n0,7,1\n2,8,1\n")
    authors = _write(tmp_path / "authors.txt", "7\n9\n8\n")
    with pytest.warns(LoadWarning, match="1 task"):
        votes = read_votes(csv, authors=authors)
    assert votes.author is not None and votes.author.tolist() == [0, 1]
    truth = read_truth(_write(tmp_path / "t.txt", "1\n-1\n5\n"), votes)
    assert truth.tolist() == [0, -2]  # 5 is a truth no vote gave


def test_large_csv_reads_vectorised(tmp_path: Path) -> None:
    n = 200_000
    rng = np.random.default_rng(0)
    rows = np.column_stack([np.arange(n), rng.integers(0, 1000, n), rng.integers(0, 50, n)])
    csv = tmp_path / "big.csv"
    np.savetxt(csv, rows, fmt="%d", delimiter=",", header="task,worker,label", comments="")
    votes = read_votes(csv)
    assert votes.n_votes == n and votes.n_tasks == n

"""Evaluation scores by hand, and a comparison run on real votes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fieldguide.votes import VoteTable, create
from fieldguide.votes.evaluate import as_rows, compare, markdown, score
from fieldguide.votes.io import read_truth, read_votes


def test_scores_by_hand() -> None:
    votes = VoteTable.from_records(
        ["a", "a", "a", "b", "b", "c", "d"], ["u1", "u2", "u3", "u1", "u2", "u1", "u1"],
        ["x", "x", "x", "y", "x", "y", "z"])
    tt = create("two-thirds").fit(votes)  # labels x, x, y, z; validated a only
    truth = np.array([0, 1, 1, -1])  # a right, b wrong, c right, d unknown
    s = score(tt, truth)
    assert s.accuracy == pytest.approx(2 / 3)
    assert s.validated == 0.25
    assert s.precision == 1.0  # a is the only validated task with truth, and right
    assert s.recall == pytest.approx(1 / 3)
    assert (s.classes, s.n_truth) == (1, 3)
    none = score(tt, np.full(4, -1))
    assert math.isnan(none.accuracy) and math.isnan(none.recall)


def test_compare_runs_every_method(votes_dir: Path) -> None:
    d = votes_dir / "dog" / "normalized"
    votes = read_votes(d / "votes.csv")
    rows = compare(votes, ["majority", "wawa", "two-thirds", "plantnet"],
                   read_truth(d / "truth.csv", votes))
    by = {r.method: r for r in rows}
    assert by["majority"].validated == 1.0
    assert by["plantnet"].precision >= by["majority"].precision
    assert "| wawa |" in markdown(rows)
    assert as_rows(rows)[0]["method"] == "majority"

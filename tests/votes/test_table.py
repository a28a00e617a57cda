"""VoteTable coding and kernels: stable codes, ties to the lowest label, AI rows."""

from __future__ import annotations

import numpy as np
import pytest

from fieldguide.errors import InputError
from fieldguide.votes import VoteTable
from fieldguide.votes.table import lookup


def test_codes_are_sorted_names_and_ties_go_to_lowest_label() -> None:
    votes = VoteTable.from_records([2, 2, 1], ["b", "a", "a"], ["y", "x", "z"])
    assert votes.task_names.tolist() == [1, 2] and votes.label_names.tolist() == ["x", "y", "z"]
    labels, conf, total = votes.weighted_vote(np.ones(3))
    assert labels.tolist() == [2, 0] and conf.tolist() == [1, 1] and total.tolist() == [1, 2]


def test_ai_rows_and_ai_only_labels() -> None:
    votes = VoteTable.from_records(["t1", "t2"], ["u", "u"], ["x", "x"],
                                   ai_labels={"t1": "new", "t9": "x"}, ai_scores={"t1": 0.3})
    assert votes.label_names.tolist() == ["new", "x"]
    assert votes.ai_label is not None and votes.ai_label.tolist() == [0, -1]
    aug = votes.with_ai()
    assert aug.n_votes == 3 and aug.worker.tolist() == [0, 0, 1]
    assert votes.ai_score is not None and np.isnan(votes.ai_score[1])
    with pytest.raises(InputError):
        VoteTable.from_records(["t"], ["u"], ["x"]).with_ai()


def test_lookup_coerces_json_keys() -> None:
    assert lookup(np.array([3, 1, 2]), np.array(["2", "7", "3"])).tolist() == [2, -1, 0]
    assert lookup(np.array(["a", "b"]), np.array([1])).tolist() == [-1]

"""Majority, weighted majority, WAWA and TwoThird: hand cases and crowd-kit's accuracies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fieldguide.votes import VoteTable, create
from fieldguide.votes.io import read_truth, read_votes
from fieldguide.votes.majority import WeightedMajorityVote
from tests.votes.conftest import WITH_TRUTH

crowdkit = pytest.importorskip("crowdkit.aggregation")


def _votes(**kw: object) -> VoteTable:
    return VoteTable.from_records(
        ["a", "a", "a", "b", "b", "c"], ["u1", "u2", "u3", "u1", "u2", "u3"],
        ["x", "y", "y", "y", "x", "z"], **kw)  # type: ignore[arg-type]


def test_majority_by_hand_and_ties_to_lowest_label() -> None:
    mv = create("majority").fit(_votes())
    assert mv.labels_.tolist() == [1, 0, 2]  # b ties x/y -> x (code 0)
    assert mv.conf_.tolist() == [2, 1, 1]
    assert mv.acc_.tolist() == pytest.approx([2 / 3, 0.5, 1.0])
    assert mv.validated_.all()


def test_weighted_uses_given_weights_and_ai_modes() -> None:
    votes = _votes(ai_labels={"a": "x", "b": "y"}, ai_scores={"a": 0.9, "b": 0.2})
    wmv = WeightedMajorityVote({"u1": 3.0}).fit(votes)
    assert wmv.labels_.tolist() == [0, 1, 2]
    fixed = WeightedMajorityVote(ai="fixed").fit(votes)
    assert fixed.labels_.tolist() == [0, 1, 2]  # a: x 1 + 1.7 > y 2
    assert fixed.conf_[0] == pytest.approx(2.7)
    confident = WeightedMajorityVote(ai="confident").fit(votes)
    assert confident.labels_.tolist() == [0, 0, 2]  # b's AI (0.2) stays out: tie -> x
    inval = WeightedMajorityVote(ai="invalidating").fit(votes)
    assert inval.acc_[0] == pytest.approx(2 / (3 + 1.7))
    worker = WeightedMajorityVote({"AI": 5.0}, ai="worker").fit(votes)
    assert worker.labels_.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown AI mode"):
        WeightedMajorityVote(ai="loud").fit(votes)


def test_two_thirds_needs_two_votes_and_more_than_two_thirds() -> None:
    votes = VoteTable.from_records(
        ["a", "a", "a", "b", "b", "c", "d", "d", "d", "d"],
        ["u1", "u2", "u3", "u1", "u2", "u1", "u1", "u2", "u3", "u4"],
        ["x", "x", "y", "x", "x", "x", "x", "x", "x", "y"])
    tt = create("two-thirds").fit(votes)
    assert tt.validated_.tolist() == [False, True, False, True]  # 2/3 is not more than 2/3
    assert tt.labels_.tolist() == [0, 0, 0, 0]


def test_wawa_weights_are_agreement_with_majority() -> None:
    wawa = create("wawa").fit(_votes())
    # MV = [y, x (tie), z]: u1 never agrees, u2 and u3 always do.
    assert wawa.weights_.tolist() == pytest.approx([0.0, 1.0, 1.0])
    assert wawa.labels_.tolist() == [1, 0, 2]
    assert wawa.acc_.tolist() == pytest.approx([1.0, 1.0, 1.0])


def _crowdkit_accuracy(model: object, csv: Path, truth_csv: Path) -> float:
    import pandas as pd

    df = pd.read_csv(csv)
    truth = pd.read_csv(truth_csv).set_index("task")["truth"]
    labels = model.fit_predict(df)  # type: ignore[attr-defined]
    common = truth.index.intersection(labels.index)
    return float((labels.loc[common] == truth.loc[common]).mean())


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
@pytest.mark.parametrize("name", WITH_TRUTH)
@pytest.mark.parametrize(("ours", "ref"), [("majority", "MajorityVote"), ("wawa", "Wawa")])
def test_accuracy_within_half_a_point_of_crowdkit(votes_dir: Path, name: str, ours: str,
                                                  ref: str) -> None:
    d = votes_dir / name / "normalized"
    votes = read_votes(d / "votes.csv")
    truth = read_truth(d / "truth.csv", votes)
    known = truth != -1
    acc = float((create(ours).fit(votes).labels_ == truth)[known].mean())
    np.random.seed(0)  # crowd-kit breaks some ties at random
    theirs = _crowdkit_accuracy(getattr(crowdkit, ref)(), d / "votes.csv", d / "truth.csv")
    assert acc >= theirs - 0.005, (name, acc, theirs)

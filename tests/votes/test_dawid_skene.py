"""Dawid-Skene: hand checks, parity and accuracy against crowd-kit, invariance properties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene as CrowdKitDS
from crowdkit.aggregation import OneCoinDawidSkene as CrowdKitOneCoin
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldguide.votes.dawid_skene import DawidSkene, best_unvoted
from fieldguide.votes.table import VoteTable

pytestmark = pytest.mark.filterwarnings("ignore")  # crowd-kit's pandas deprecations
WITH_TRUTH = ["labelme", "dog", "product", "bluebirds", "plantnet_toy",
              "plantnet_crowdswe_sample"]


def load(shared_data: Path, name: str) -> tuple[pd.DataFrame, pd.Series, VoteTable]:
    """Votes, truth (indexed by task) and the VoteTable of one real dataset."""
    folder = shared_data / "votes" / name / "normalized"
    df = pd.read_csv(folder / "votes.csv")
    truth = pd.read_csv(folder / "truth.csv").set_index("task")["truth"]
    table = VoteTable.from_records(df.task.to_numpy(), df.worker.to_numpy(), df.label.to_numpy())
    return df, truth, table


def accuracy(names: Any, labels: Any, truth: pd.Series) -> float:
    return float((pd.Series(labels, index=names).reindex(truth.index) == truth).mean())


def dense_posterior(model: DawidSkene) -> np.ndarray:
    post = model.posterior_.toarray()
    unvoted = post == 0
    return np.where(unvoted, model.posterior_rest_[:, None] * model.priors_[None, :], post)


# -- hand-checked cases ---------------------------------------------------------------------

def test_two_reliable_workers_outvote_a_confused_one() -> None:
    # w1 and w2 always agree; w3 answers "b" everywhere: DS learns w3 carries no information.
    tasks = [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]
    workers = ["w1"] * 4 + ["w2"] * 4 + ["w3"] * 4
    labels = ["a", "a", "b", "a", "a", "a", "b", "a", "b", "b", "b", "b"]
    ds = DawidSkene(model="full").fit(VoteTable.from_records(tasks, workers, labels))
    assert ds.labels_.tolist() == [0, 0, 1, 0]
    assert ds.acc_.min() > 0.99 and ds.validated_.all()
    assert ds.weights_[0] > 0.99 and ds.weights_[2] < 0.8


def test_one_coin_posterior_is_bayes_rule_at_the_fixed_point() -> None:
    rng = np.random.default_rng(1)
    task, worker = rng.integers(0, 40, 200), rng.integers(0, 6, 200)
    label = np.where(rng.random(200) < 0.7, task % 5, rng.integers(0, 5, 200))
    votes = VoteTable.from_records(task, worker, label)
    ds = DawidSkene(model="one-coin", n_iter=2000, tol=1e-14).fit(votes)
    p, k = ds.weights_[votes.worker], votes.n_labels
    like = np.where(votes.label[:, None] == np.arange(k), p[:, None], (1 - p[:, None]) / (k - 1))
    log_post = np.log(ds.priors_) + np.stack(
        [np.bincount(votes.task, weights=np.log(like[:, j]), minlength=votes.n_tasks)
         for j in range(k)], axis=1)
    expect = np.exp(log_post - log_post.max(axis=1, keepdims=True))
    expect /= expect.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(dense_posterior(ds), expect, atol=1e-6)
    np.testing.assert_allclose(dense_posterior(ds).sum(axis=1), 1.0)


def test_best_unvoted_is_the_first_label_in_order_nobody_chose() -> None:
    votes = VoteTable.from_records([1, 1, 2, 3, 3, 3], ["a", "b", "a", "a", "b", "c"],
                                   [0, 2, 1, 0, 1, 2])
    assert best_unvoted(votes, np.array([0, 1, 2])).tolist() == [1, 0, -1]
    assert best_unvoted(votes, np.array([2, 1, 0])).tolist() == [1, 2, -1]


def test_auto_switches_to_one_coin_for_huge_label_spaces(shared_data: Path) -> None:
    _, _, small = load(shared_data, "dog")
    _, _, huge = load(shared_data, "plantnet_crowdswe_sample")
    assert DawidSkene().fit(small).model_ == "full"
    assert DawidSkene().fit(huge).model_ == "one-coin"
    assert DawidSkene(max_dense_cells=10).fit(small).model_ == "one-coin"
    with pytest.raises(ValueError, match="model"):
        DawidSkene(model="two-coin")


# -- against crowd-kit ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["labelme", "dog", "bluebirds", "plantnet_toy"])
def test_full_model_equals_crowdkit_iteration_for_iteration(shared_data: Path,
                                                            name: str) -> None:
    df, _, votes = load(shared_data, name)
    ours = DawidSkene(model="full", n_iter=10, tol=-np.inf, smoothing=0.0).fit(votes)
    theirs = CrowdKitDS(n_iter=10, tol=-np.inf).fit(df).probas_
    theirs = theirs.reindex(index=votes.task_names, columns=votes.label_names).to_numpy()
    # crowd-kit floors its posteriors at 1e-10 in place before the next M-step: tiny drift.
    np.testing.assert_allclose(ours.posterior_.toarray(), theirs, atol=0.01)
    top2 = np.sort(theirs, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.02
    assert (ours.labels_[clear] == theirs.argmax(axis=1)[clear]).all()


def test_one_coin_equals_crowdkit_one_coin(shared_data: Path) -> None:
    df, truth, votes = load(shared_data, "labelme")
    ours = DawidSkene(model="one-coin").fit(votes)
    theirs = CrowdKitOneCoin(n_iter=100).fit(df)
    assert accuracy(votes.task_names, votes.label_names[ours.labels_], truth) == pytest.approx(
        accuracy(theirs.labels_.index, theirs.labels_.to_numpy(), truth), abs=0.005)


@pytest.mark.parametrize("name", WITH_TRUTH)
def test_accuracy_within_half_a_point_of_crowdkit(shared_data: Path, name: str) -> None:
    df, truth, votes = load(shared_data, name)
    ours = DawidSkene().fit(votes)
    theirs = CrowdKitDS(n_iter=100).fit(df).labels_
    ours_acc = accuracy(votes.task_names, votes.label_names[ours.labels_], truth)
    assert ours_acc >= accuracy(theirs.index, theirs.to_numpy(), truth) - 0.005


# -- properties -----------------------------------------------------------------------------

votes_sets = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 4), st.integers(0, 2)),
                      min_size=1, max_size=40)


def by_name(model: Any, votes: VoteTable) -> dict[Any, tuple[float, ...]]:
    post = model.posterior_.toarray()
    return {name: tuple(post[i]) for i, name in enumerate(votes.task_names.tolist())}


@settings(max_examples=40, deadline=None)
@given(votes_sets, st.permutations(range(8)), st.permutations(range(5)),
       st.sampled_from(["full", "one-coin"]))
def test_renaming_tasks_and_workers_changes_nothing(rows: list[tuple[int, int, int]],
                                                     tperm: list[int], wperm: list[int],
                                                     model: str) -> None:
    t, w, lab = (np.array(c) for c in zip(*rows, strict=True))
    a = VoteTable.from_records(t, w, lab)
    b = VoteTable.from_records(np.array(tperm)[t], np.array(wperm)[w], lab)
    fa, fb = DawidSkene(model=model).fit(a), DawidSkene(model=model).fit(b)
    pa, pb = by_name(fa, a), by_name(fb, b)
    for name, row in pa.items():
        np.testing.assert_allclose(row, pb[tperm[name]], atol=1e-6)
    wa = dict(zip(a.worker_names.tolist(), fa.weights_, strict=True))
    wb = dict(zip(b.worker_names.tolist(), fb.weights_, strict=True))
    for name, weight in wa.items():
        assert weight == pytest.approx(wb[wperm[name]], abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3)), min_size=1, max_size=30))
def test_one_vote_per_task_returns_that_vote(rows: list[tuple[int, int]]) -> None:
    workers, labels = (np.array(c) for c in zip(*rows, strict=True))
    votes = VoteTable.from_records(np.arange(len(rows)), workers, labels)
    ds = DawidSkene(model="one-coin").fit(votes)
    assert ds.labels_.tolist() == votes.label.tolist()


def test_full_model_is_unidentifiable_with_one_vote_per_task() -> None:
    # A free confusion matrix explains any lone answer, so the posterior falls back to the
    # class priors (crowd-kit does the same); the one-coin model keeps the votes.
    votes = VoteTable.from_records([0, 1], [0, 1], [0, 1])
    assert DawidSkene(model="full", smoothing=0.0).fit(votes).acc_.tolist() == pytest.approx(
        [0.5, 0.5])
    assert DawidSkene(model="one-coin").fit(votes).labels_.tolist() == [0, 1]

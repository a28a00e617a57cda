"""The compiled Pl@ntNet loops give bit-identical results to the NumPy formulation they replace.

``NumpyPlantNet`` is the previous implementation's weighted vote and species count, kept here
as the reference: labels, conf, acc, validation, n and weights must be equal (not close) on
every real vote set, in every AI mode, in both semantics, and on a synthetic Pl@ntNet-shaped
set with ties and many labels per task.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fieldguide.votes import VoteTable
from fieldguide.votes.io import read_votes
from fieldguide.votes.majority import ai_table, ai_weighted_vote
from fieldguide.votes.plantnet import PlantNet
from fieldguide.votes.plantnet_kernels import Layout, _pairwise_sum, weighted_vote
from fieldguide.votes.table import FloatArray, IntArray


class _TaskCodeOrder:
    """The reference keeps per-task arrays by task code: no reordering."""

    @staticmethod
    def tasks(per_task: np.ndarray) -> np.ndarray:
        return per_task

    untasks = tasks


class NumpyPlantNet(PlantNet):
    """The NumPy weighted vote and species count (fieldguide before the compiled kernels)."""

    def fit(self, votes: VoteTable) -> Any:
        table = ai_table(votes, self.ai)
        author = votes.author if votes.author is not None else np.full(votes.n_tasks, -1)
        self._np = (table, table.worker < votes.n_workers + (self.ai == "worker"),
                    author[table.task] == table.worker)
        return super().fit(votes)

    def _fit_thesis(self, votes: VoteTable) -> None:
        self._layout = _TaskCodeOrder()  # type: ignore[assignment]
        n = np.zeros(self._n_users)
        labels, conf, total = self._vote(votes, self.weight(n))
        it = 0
        for it in range(1, self.max_iter + 1):
            valid = self._valid(conf, total, strict=False)
            n_author, n_vote = self._species(labels, valid)
            n_new = np.floor(self.author_weight * n_author + self.vote_weight * n_vote
                             + 0.5 + 1e-9)
            labels, conf, total = self._vote(votes, self.weight(n_new))
            change = np.abs(n_new - n).sum() / votes.n_tasks
            n = n_new
            if it >= self.min_rounds and change <= self.eps:
                break
        self._set(votes, labels, conf, total, self._valid(conf, total, strict=False),
                  self.weight(n), n, it)

    def _fit_compat(self, votes: VoteTable) -> None:
        self._layout = _TaskCodeOrder()  # type: ignore[assignment]
        super()._fit_compat(votes)

    def _vote(self, votes: VoteTable, weights: FloatArray
              ) -> tuple[IntArray, FloatArray, FloatArray]:
        return ai_weighted_vote(votes, weights, self.ai, self.w_ai, self.theta_score)

    def _species(self, yhat: IntArray, valid: np.ndarray) -> tuple[IntArray, IntArray]:
        t, counted, is_author = self._np
        matched = counted & (t.label == yhat[t.task])
        authored = matched & is_author & valid[t.task]
        pair_of_vote, pair_worker = t.worker_label_pairs()
        counts = []
        for rows in (authored, matched):
            seen = np.zeros(len(pair_worker), dtype=bool)
            seen[pair_of_vote[rows]] = True
            counts.append(np.bincount(pair_worker[seen], minlength=t.n_workers)[: self._n_users])
        return counts[0], counts[1] - counts[0]


def _assert_identical(votes: VoteTable, **params: Any) -> None:
    ours, ref = PlantNet(**params).fit(votes), NumpyPlantNet(**params).fit(votes)
    for name in ("labels_", "conf_", "acc_", "validated_", "weights_", "n_species_", "n_iter_",
                 "ai_weight_"):
        a, b = np.asarray(getattr(ours, name)), np.asarray(getattr(ref, name))
        assert a.dtype == b.dtype, (name, params)
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), (name, params)


def test_pairwise_sum_is_numpys_reduceat_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for n in [*range(1, 40), 127, 128, 129, 130, 255, 256, 257, 1000, 4099]:
        a = rng.random(n) * 10.0 ** rng.integers(-3, 4, n)
        expected = np.add.reduceat(a, [0])[0]
        got = a[0] + _pairwise_sum(a, 1, n - 1) if n > 1 else a[0]
        assert got == expected, n


def test_weighted_vote_matches_table_on_many_labels_per_task() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    task = np.minimum(rng.zipf(1.5, n), 500)  # from one vote per task to thousands
    label = rng.integers(0, 300, n)
    worker = np.arange(n)
    votes = VoteTable.from_records(task, worker, label)
    weight = np.round(rng.random(n) * 4) / 4  # quarter steps: many exact ties
    layout = Layout.of(votes.task, votes.worker, votes.label, np.full(votes.n_tasks, -1),
                       votes.n_tasks, votes.n_workers, votes.n_labels)
    got = [layout.untasks(a) for a in weighted_vote(layout, weight)]
    expected = votes.weighted_vote(weight[votes.worker])
    assert layout.max_votes > 128  # the pairwise summation's halving is exercised
    for a, b in zip(got, expected, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("compat", [False, True])
@pytest.mark.parametrize("name", ["labelme", "dog", "product", "bluebirds", "music",
                                  "plantnet_toy"])
def test_identical_on_crowd_datasets(votes_dir: Path, name: str, compat: bool) -> None:
    votes = read_votes(votes_dir / name / "normalized" / "votes.csv")
    _assert_identical(votes, peerannot_compat=compat)
    if name == "plantnet_toy":
        d = votes_dir / name
        with_authors = read_votes(d / "answers.json", authors=d / "authors.txt")
        _assert_identical(with_authors, peerannot_compat=compat)


@pytest.mark.filterwarnings("ignore::fieldguide.votes.io.LoadWarning")
@pytest.mark.parametrize("ai", [None, "worker", "fixed", "invalidating", "confident"])
@pytest.mark.parametrize("compat", [False, True])
def test_identical_on_crowdswe_sample(votes_dir: Path, ai: str | None, compat: bool) -> None:
    if compat and ai in ("worker", "invalidating"):
        pytest.skip("peerannot_compat refuses this mode (peerannot crashes in it)")
    d = votes_dir / "plantnet_crowdswe_sample"
    votes = read_votes(d / "answers" / "answers.json", authors=d / "aggregation" / "authors.txt",
                       ai=d / "aggregation" / "ai_answers.json",
                       ai_scores=d / "aggregation" / "ai_scores.json")
    _assert_identical(votes, ai=ai, peerannot_compat=compat)


@pytest.mark.parametrize("ai", [None, "worker", "fixed", "invalidating", "confident"])
def test_identical_on_a_synthetic_plantnet_sample(ai: str | None) -> None:
    sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
    try:
        from aggregate import synthesize
    finally:
        sys.path.pop(0)
    base = synthesize(0.002, seed=3)
    rng = np.random.default_rng(4)
    truth = base.label[np.unique(base.task, return_index=True)[1]]
    ai_label = np.where(rng.random(base.n_tasks) < 0.7, truth,
                        rng.integers(0, base.n_labels, base.n_tasks))
    has = rng.random(base.n_tasks) < 0.9
    assert base.author is not None
    votes = VoteTable.from_records(
        base.task, base.worker, base.label, authors=(np.arange(base.n_tasks), base.author),
        ai_labels=(np.flatnonzero(has), ai_label[has]),
        ai_scores=(np.arange(base.n_tasks), rng.random(base.n_tasks)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _assert_identical(votes, ai=ai)
        if ai in (None, "fixed", "confident"):
            _assert_identical(votes, ai=ai, peerannot_compat=True)

"""The Pl@ntNet strategy: users weigh by how many species they have shown they know.

Spec: docs/plantnet-aggregation.md. A user's weight is f(n) = n^alpha - n^beta + gamma, where
n counts the distinct species they authored on validated observations (weight 1) plus those
they voted where the crowd agreed (weight 0.1). Labels, conf, acc and validation are
recomputed from the weighted vote until n stops changing. Everything is array arithmetic over
the :class:`VoteTable`; the distinct-species counts are a mark over (worker, label) pairs and a
``bincount`` per round.

Two semantics: the thesis (default) and ``peerannot_compat=True``, which reproduces
peerannot's ``PlantNet`` including its quirks (the spec lists them; see :meth:`_fit_compat`).
Ties in every weighted vote go to the lowest label code (peerannot's ``np.argmax`` does too).
"""

from __future__ import annotations

import math
from typing import Self

import numpy as np
import numpy.typing as npt

from fieldguide.votes.base import Aggregator
from fieldguide.votes.majority import ai_table, ai_weighted_vote, check_ai
from fieldguide.votes.table import FloatArray, IntArray, VoteTable

Mask = npt.NDArray[np.bool_]


class PlantNet(Aggregator):
    """Pl@ntNet's iterative weighted vote; ``n_species_`` and ``n_iter_`` are set by fit."""

    name = "plantnet"
    takes_ai = True

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        beta: float = 0.2,
        gamma: float = math.log(2.1),
        theta_conf: float = 2.0,
        theta_acc: float = 0.7,
        author_weight: float = 1.0,
        vote_weight: float = 0.1,
        max_iter: int = 100,
        eps: float = 1e-5,
        min_rounds: int = 5,
        ai: str | None = None,
        w_ai: float = 1.7,
        theta_score: float = 0.7,
        peerannot_compat: bool = False,
    ) -> None:
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        self.theta_conf, self.theta_acc = theta_conf, theta_acc
        self.author_weight, self.vote_weight = author_weight, vote_weight
        self.max_iter, self.eps, self.min_rounds = max_iter, eps, min_rounds
        self.ai, self.w_ai, self.theta_score = ai, w_ai, theta_score
        self.peerannot_compat = peerannot_compat

    def weight(self, n: FloatArray) -> FloatArray:
        """f(n) = n^alpha - n^beta + gamma: f(0) = gamma, f(7) = 1.912, f(8) = 2.055."""
        return np.asarray(n**self.alpha - n**self.beta + self.gamma, dtype=np.float64)

    def fit(self, votes: VoteTable) -> Self:
        check_ai(votes, self.ai)
        if self.peerannot_compat and self.ai in ("worker", "invalidating"):
            raise ValueError(f"peerannot's PlantNet crashes in AI mode {self.ai!r}; "
                             "use peerannot_compat=False")
        table = ai_table(votes, self.ai)
        # Votes whose species count toward a user's n: humans, plus the AI in worker mode.
        self._n_users = votes.n_workers + (self.ai == "worker")
        self._counted = table.worker < self._n_users
        author = votes.author if votes.author is not None else np.full(votes.n_tasks, -1)
        self._is_author = author[table.task] == table.worker
        self._table = table
        if self.peerannot_compat:
            self._fit_compat(votes)
        else:
            self._fit_thesis(votes)
        del self._table, self._counted, self._is_author, self._n_users
        return self

    def _vote(self, votes: VoteTable, weights: FloatArray) -> tuple[IntArray, FloatArray,
                                                                    FloatArray]:
        return ai_weighted_vote(votes, weights, self.ai, self.w_ai, self.theta_score)

    def _species(self, yhat: IntArray, valid: Mask) -> tuple[IntArray, IntArray]:
        """Per user: (#species authored on validated tasks won by it, #other species voted).

        A species counts when the user gave it on a task whose estimated label it is.
        """
        t = self._table
        matched = self._counted & (t.label == yhat[t.task])
        authored = matched & self._is_author & valid[t.task]
        pair_of_vote, pair_worker = t.worker_label_pairs()
        counts = []
        for rows in (authored, matched):
            seen = np.zeros(len(pair_worker), dtype=bool)
            seen[pair_of_vote[rows]] = True
            counts.append(np.bincount(pair_worker[seen], minlength=t.n_workers)[: self._n_users])
        n_author, n_any = counts
        return n_author, n_any - n_author

    def _fit_thesis(self, votes: VoteTable) -> None:
        """Thesis semantics: conf/acc/s/n follow the current estimate, Round half up, >=."""
        n = np.zeros(self._n_users)
        labels, conf, total = self._vote(votes, self.weight(n))
        it = 0
        for it in range(1, self.max_iter + 1):
            valid = self._valid(conf, total, strict=False)
            n_author, n_vote = self._species(labels, valid)
            # Round half up; the tiny slack absorbs 0.1 * k not being exact in binary.
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
        """peerannot's PlantNet.run, reproduced exactly, quirks included.

        conf, acc, validation and n are measured against the *initial* (weights = gamma)
        vote; n = authored + numpy-round(sum of 0.1 per voted species, accumulated as floats);
        validation is strict; in fixed/confident AI modes w_AI joins conf and total once per
        human vote (and total even where the AI gave no label); more than 6 rounds are run.
        """
        weights = np.full(votes.n_workers, self.gamma)
        y0, _, _ = self._vote(votes, weights)
        steps = np.cumsum(np.full(votes.n_labels + 1, self.vote_weight))  # float accumulation
        rounded_votes = np.round(np.concatenate([[0.0], steps]))

        def n_of(valid: Mask) -> FloatArray:
            n_author, n_vote = self._species(y0, valid)
            return np.asarray(n_author + rounded_votes[n_vote], dtype=np.float64)

        conf, total = self._compat_conf(votes, y0, weights)
        n = n_of(self._valid(conf, total, strict=True))
        labels, step = y0, -1
        for step in range(self.max_iter):
            n_prev = n
            weights = self.weight(n)
            labels, _, _ = self._vote(votes, weights)
            conf, total = self._compat_conf(votes, y0, weights)
            n = n_of(self._valid(conf, total, strict=True))
            if np.abs(n - n_prev).sum() / votes.n_tasks <= self.eps and step > 5:
                break
        if self.max_iter <= 1:
            labels = y0
        self._set(votes, labels, conf, total, self._valid(conf, total, strict=True), weights,
                  n, step + 1)

    def _compat_conf(self, votes: VoteTable, y0: IntArray, weights: FloatArray
                     ) -> tuple[FloatArray, FloatArray]:
        vote_w = weights[votes.worker]
        conf = votes.task_sum(vote_w, votes.label == y0[votes.task])
        total = votes.task_sum(vote_w)
        if self.ai in ("fixed", "confident"):
            assert votes.ai_label is not None
            on = np.ones(votes.n_tasks, dtype=bool)
            if self.ai == "confident":
                assert votes.ai_score is not None
                on = votes.ai_score >= self.theta_score
            per_task = self.w_ai * np.bincount(votes.task, minlength=votes.n_tasks) * on
            total = total + per_task
            conf = conf + per_task * (votes.ai_label == y0)
        return conf, total

    def _valid(self, conf: FloatArray, total: FloatArray, *, strict: bool) -> Mask:
        acc = conf / total
        if strict:
            return np.asarray((conf > self.theta_conf) & (acc > self.theta_acc))
        return np.asarray((conf >= self.theta_conf) & (acc >= self.theta_acc))

    def _set(self, votes: VoteTable, labels: IntArray, conf: FloatArray, total: FloatArray,
             valid: Mask, weights: FloatArray, n: FloatArray, n_iter: int) -> None:
        self.labels_, self.conf_, self.acc_ = labels, conf, conf / total
        self.validated_ = valid
        self.weights_ = weights[: votes.n_workers]
        self.n_species_ = n[: votes.n_workers]
        self.ai_weight_ = float(weights[-1]) if self.ai == "worker" else None
        self.n_iter_ = n_iter

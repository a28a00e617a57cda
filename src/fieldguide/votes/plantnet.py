"""The Pl@ntNet strategy: users weigh by how many species they have shown they know.

Spec: docs/plantnet-aggregation.md. A user's weight is f(n) = n^alpha - n^beta + gamma, where
n counts the distinct species they authored on validated observations (weight 1) plus those
they voted where the crowd agreed (weight 0.1). Labels, conf, acc and validation are
recomputed from the weighted vote until n stops changing. The votes are put in (task, label)
and (worker, label) order once per fit; each round's weighted vote and distinct-species counts
are then one compiled scan each (:mod:`fieldguide.votes.plantnet_kernels`), which is what
brings Pl@ntNet's 9M votes to a few seconds.

Two semantics: the thesis (default) and ``peerannot_compat=True``, which reproduces
peerannot's ``PlantNet`` including its quirks (the spec lists them; see :meth:`_fit_compat`).
Ties in every weighted vote go to the lowest label code (peerannot's ``np.argmax`` does too).
"""

from __future__ import annotations

import math
from typing import Self

import numpy as np
import numpy.typing as npt

from fieldguide.votes import plantnet_kernels as kernels
from fieldguide.votes.base import Aggregator
from fieldguide.votes.majority import ai_table, check_ai
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
        author = votes.author if votes.author is not None else np.full(votes.n_tasks, -1)
        layout = kernels.Layout.of(table.task, table.worker, table.label, author,
                                   table.n_tasks, table.n_workers, table.n_labels)
        self._layout, self._worker = layout, layout.worker
        if self.ai == "confident":
            # The AI's votes under theta_score weigh nothing: code them as one more worker,
            # weighted 0 (NaN scores are not sure).
            assert votes.ai_score is not None
            score = votes.ai_score[table.task[layout.by_task]]
            unsure = (layout.worker == votes.n_workers) & ~(score >= self.theta_score)
            self._worker = np.where(unsure, votes.n_workers + 1, layout.worker).astype(np.int32)
        self._ai_label = None
        if self.ai == "invalidating":
            assert votes.ai_label is not None
            self._ai_label = layout.tasks(votes.ai_label)
        if self.peerannot_compat:
            self._fit_compat(votes)
        else:
            self._fit_thesis(votes)
        del self._layout, self._worker, self._ai_label, self._n_users
        return self

    def _vote(self, votes: VoteTable, weights: FloatArray) -> tuple[IntArray, FloatArray,
                                                                    FloatArray]:
        """Weighted vote (label, conf, total per task) with the AI joining as ``ai`` says.

        The arithmetic of :func:`fieldguide.votes.majority.ai_weighted_vote`: fixed and
        confident add the AI as a voter of weight w_AI (confident only where its score >=
        theta_score); invalidating adds w_AI to the total where the AI disagrees with the
        winner; worker mode gives the AI its own weight (the last of ``weights``). Per-task
        results here and in the rounds are in the layout's task order; :meth:`_set` restores
        task codes.
        """
        labels, conf, total = kernels.weighted_vote(self._layout, self._vote_weights(weights),
                                                    self._worker)
        if self._ai_label is not None:  # invalidating
            disagree = (self._ai_label >= 0) & (self._ai_label != labels)
            total = total + self.w_ai * disagree
        return labels, conf, total

    def _vote_weights(self, weights: FloatArray) -> FloatArray:
        """Weight per worker code: the AI's w_AI, then 0 for its unsure votes (fixed, confident)."""
        if self.ai in ("fixed", "confident"):
            return np.append(weights, [self.w_ai, 0.0])
        return weights

    def _species(self, yhat: IntArray, valid: Mask) -> tuple[IntArray, IntArray]:
        """Per user: (#species authored on validated tasks won by it, #other species voted).

        A species counts when the user gave it on a task whose estimated label it is.
        """
        n_author, n_any = kernels.species(self._layout, yhat, valid, self._n_users)
        return n_author, n_any - n_author

    def _fit_thesis(self, votes: VoteTable) -> None:
        """Thesis semantics: conf/acc/s/n follow the current estimate, Round half up, >=.

        Each round votes with the current weights, validates and counts species in one pass
        (:func:`~fieldguide.votes.plantnet_kernels.vote_and_count`); labels, conf and total
        are kept from the last vote only.
        """
        n = np.zeros(self._n_users)
        it = 0
        for it in range(1, self.max_iter + 1):
            n_author, n_any = kernels.vote_and_count(
                self._layout, self._vote_weights(self.weight(n)), self._worker, self._n_users,
                self.theta_conf, self.theta_acc, self._ai_label, self.w_ai)
            n_vote = n_any - n_author
            # Round half up; the tiny slack absorbs 0.1 * k not being exact in binary.
            n_new = np.floor(self.author_weight * n_author + self.vote_weight * n_vote
                             + 0.5 + 1e-9)
            change = np.abs(n_new - n).sum() / votes.n_tasks
            n = n_new
            if it >= self.min_rounds and change <= self.eps:
                break
        labels, conf, total = self._vote(votes, self.weight(n))
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
        """peerannot's conf and total, summed over the votes in their own order (as it does)."""
        y0 = self._layout.untasks(y0)
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
        return self._layout.tasks(conf), self._layout.tasks(total)

    def _valid(self, conf: FloatArray, total: FloatArray, *, strict: bool) -> Mask:
        acc = conf / total
        if strict:
            return np.asarray((conf > self.theta_conf) & (acc > self.theta_acc))
        return np.asarray((conf >= self.theta_conf) & (acc >= self.theta_acc))

    def _set(self, votes: VoteTable, labels: IntArray, conf: FloatArray, total: FloatArray,
             valid: Mask, weights: FloatArray, n: FloatArray, n_iter: int) -> None:
        labels, conf, total, valid = (self._layout.untasks(a) for a in (labels, conf, total,
                                                                        valid))
        self.labels_, self.conf_, self.acc_ = labels, conf, conf / total
        self.validated_ = valid
        self.weights_ = weights[: votes.n_workers]
        self.n_species_ = n[: votes.n_workers]
        self.ai_weight_ = float(weights[-1]) if self.ai == "worker" else None
        self.n_iter_ = n_iter

"""Majority vote and weighted majority vote, and how an AI vote joins a weighted vote.

Ties always go to the lowest label code (labels are coded in sorted order of their names), so
results are deterministic; crowd-kit breaks ties the same way in MajorityVote (``idxmax``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np

from fieldguide.errors import InputError
from fieldguide.votes.base import Aggregator
from fieldguide.votes.table import FloatArray, IntArray, VoteTable, lookup

AI_MODES = ("worker", "fixed", "invalidating", "confident")


def check_ai(votes: VoteTable, ai: str | None) -> None:
    """Refuse an AI mode the votes cannot support (no AI labels, or no scores for confident)."""
    if ai is None:
        return
    if ai not in AI_MODES:
        raise ValueError(f"unknown AI mode {ai!r}; known: {', '.join(AI_MODES)} or None")
    if votes.ai_label is None:
        raise InputError(f"AI mode {ai!r} needs AI labels", field="ai_label")
    if ai == "confident" and votes.ai_score is None:
        raise InputError("AI mode 'confident' needs AI scores", field="ai_score")


def ai_table(votes: VoteTable, ai: str | None) -> VoteTable:
    """The table the weighted vote runs on: with the AI as worker ``n_workers`` when it votes."""
    return votes if ai in (None, "invalidating") else votes.with_ai()


def ai_weighted_vote(
    votes: VoteTable, worker_weight: FloatArray, ai: str | None, w_ai: float, theta_score: float
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Weighted vote (label, conf, total weight per task) with the AI joining as ``ai`` says.

    ``worker_weight`` has one weight per human worker, plus the AI's last in ``worker`` mode.
    fixed: the AI votes with ``w_ai``; confident: likewise where its score >= ``theta_score``;
    invalidating: ``w_ai`` is added to the total (never to conf) where the AI disagrees with
    the winner, so it can only lower acc; worker: the AI votes with its own learned weight.
    """
    table = ai_table(votes, ai)
    if ai in ("fixed", "confident"):
        worker_weight = np.append(worker_weight, w_ai)
    vote_weight = worker_weight[table.worker]
    if ai == "confident":
        assert votes.ai_score is not None
        ai_rows = slice(votes.n_votes, None)
        sure = votes.ai_score[table.task[ai_rows]] >= theta_score  # NaN scores are not sure
        vote_weight[ai_rows] = np.where(sure, w_ai, 0.0)
    labels, conf, total = table.weighted_vote(vote_weight)
    if ai == "invalidating":
        assert votes.ai_label is not None
        disagree = (votes.ai_label >= 0) & (votes.ai_label != labels)
        total = total + w_ai * disagree
    return labels, conf, total


class MajorityVote(Aggregator):
    """Most voted label per task; conf = its number of votes, acc = its share of the votes.

    Every task is validated (MV always commits to a label); every worker weighs 1.
    """

    name = "majority"

    def fit(self, votes: VoteTable) -> Self:
        labels, conf, total = votes.weighted_vote(np.ones(votes.n_votes))
        self.labels_, self.conf_, self.acc_ = labels, conf, conf / total
        self.validated_ = np.ones(votes.n_tasks, dtype=bool)
        self.weights_ = np.ones(votes.n_workers)
        return self


class WeightedMajorityVote(Aggregator):
    """Majority vote with given worker weights, optionally with an AI vote (see AI_MODES).

    ``weights`` maps worker names to weights (missing workers get ``default_weight``; in
    ``worker`` AI mode the AI's weight is ``weights.get("AI", default_weight)``). A task is
    validated when conf >= theta_conf and acc >= theta_acc (both 0 by default: all tasks).
    """

    name = "weighted"
    takes_ai = True

    def __init__(
        self,
        weights: Mapping[Any, float] | None = None,
        *,
        default_weight: float = 1.0,
        ai: str | None = None,
        w_ai: float = 1.7,
        theta_score: float = 0.7,
        theta_conf: float = 0.0,
        theta_acc: float = 0.0,
    ) -> None:
        self.weights = weights
        self.default_weight = default_weight
        self.ai = ai
        self.w_ai = w_ai
        self.theta_score = theta_score
        self.theta_conf = theta_conf
        self.theta_acc = theta_acc

    def fit(self, votes: VoteTable) -> Self:
        check_ai(votes, self.ai)
        n = votes.n_workers + (self.ai == "worker")
        weight = np.full(n, float(self.default_weight))
        if self.weights:
            given = dict(self.weights)
            ai_weight = given.pop("AI", None)
            pos = lookup(votes.worker_names, np.asarray(list(given.keys())))
            weight[pos[pos >= 0]] = np.asarray(list(given.values()), dtype=float)[pos >= 0]
            if self.ai == "worker" and ai_weight is not None:
                weight[-1] = ai_weight
        labels, conf, total = ai_weighted_vote(votes, weight, self.ai, self.w_ai,
                                               self.theta_score)
        acc = np.divide(conf, total, out=np.zeros_like(conf), where=total > 0)
        self.labels_, self.conf_, self.acc_ = labels, conf, acc
        self.validated_ = (conf >= self.theta_conf) & (acc >= self.theta_acc)
        self.weights_ = weight[: votes.n_workers]
        return self

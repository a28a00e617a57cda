"""WAWA, Worker Agreement With Aggregate: a one-step reweighting of the majority vote.

Defined as in crowd-kit's ``Wawa`` so results compare: majority vote first, then each worker's
weight is the share of their votes that agree with it, then a weighted majority vote with
those weights. Ties go to the lowest label code (in both votes).
"""

from __future__ import annotations

from typing import Self

import numpy as np

from fieldguide.votes.base import Aggregator
from fieldguide.votes.table import VoteTable, wsum


class Wawa(Aggregator):
    """MV, weight = agreement with MV, WMV; conf/acc from the weighted vote; all validated."""

    name = "wawa"

    def fit(self, votes: VoteTable) -> Self:
        mv, _, _ = votes.weighted_vote(np.ones(votes.n_votes))
        agree = (votes.label == mv[votes.task]).astype(np.float64)
        n_votes = np.bincount(votes.worker, minlength=votes.n_workers)
        weight = wsum(votes.worker, agree, votes.n_workers) / np.maximum(n_votes, 1)
        labels, conf, total = votes.weighted_vote(weight[votes.worker])
        self.labels_, self.conf_ = labels, conf
        self.acc_ = np.divide(conf, total, out=np.zeros_like(conf), where=total > 0)
        self.validated_ = np.ones(votes.n_tasks, dtype=bool)
        self.weights_ = weight
        return self

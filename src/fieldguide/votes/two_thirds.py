"""TwoThird: iNaturalist's research-grade rule on flat labels.

A task is validated when it has at least ``min_votes`` (2) votes and strictly more than 2/3 of
them agree (iNaturalist: "more than 2/3"; peerannot's TwoThird uses >= 2/3, which differs only
at exactly 2/3, e.g. 2 of 3). The label is the majority vote (lowest code on ties) whether or
not it is validated, so accuracy stays comparable; ``validated_`` carries the decision.
"""

from __future__ import annotations

from typing import Self

import numpy as np

from fieldguide.votes.base import Aggregator
from fieldguide.votes.table import VoteTable


class TwoThirds(Aggregator):
    """MV label; validated iff n_votes >= min_votes and 3 * count(label) > 2 * n_votes."""

    name = "two-thirds"

    def __init__(self, min_votes: int = 2) -> None:
        self.min_votes = min_votes

    def fit(self, votes: VoteTable) -> Self:
        labels, count, total = votes.weighted_vote(np.ones(votes.n_votes))
        self.labels_, self.conf_, self.acc_ = labels, count, count / total
        # Integer counts: compare 3 * count with 2 * total exactly, no 2/3 rounding.
        self.validated_ = (total >= self.min_votes) & (3 * np.rint(count) > 2 * np.rint(total))
        self.weights_ = np.ones(votes.n_workers)
        return self

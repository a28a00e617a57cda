"""The estimator shape shared by every aggregation strategy (as in crowd-kit / scikit-learn).

``Strategy(**params).fit(votes)`` then read ``labels_`` (label code per task, -1 = none),
``conf_``, ``acc_``, ``validated_`` per task and ``weights_`` per worker. Parameters live in
``__init__``; results in trailing-underscore attributes. Strategies are registered by name in
:data:`REGISTRY` (a :class:`fieldguide.registry.Registry`) so specs, the CLI and stored labels
all use the same word.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

import numpy as np

from fieldguide.registry import Registry
from fieldguide.votes.table import FloatArray, IntArray, VoteTable

#: Aggregation methods by name, each imported on first use so the CLI starts fast.
REGISTRY: Registry[type[Aggregator]] = Registry("votes", "aggregation method", [
    ("majority", "fieldguide.votes.majority:MajorityVote",
     "Most voted label per task."),
    ("weighted", "fieldguide.votes.majority:WeightedMajorityVote",
     "Majority vote with given worker weights, optionally with an AI vote."),
    ("wawa", "fieldguide.votes.wawa:Wawa",
     "Worker agreement with aggregate: workers weighted by agreement with the majority."),
    ("two-thirds", "fieldguide.votes.two_thirds:TwoThirds",
     "Majority label, validated when over two thirds of at least min_votes agree."),
    ("community-taxon", "fieldguide.votes.community_taxon:CommunityTaxon",
     "iNaturalist's taxonomy-aware two-thirds rule over current identifications."),
    ("dawid-skene", "fieldguide.votes.dawid_skene:DawidSkene",
     "Dawid-Skene EM: a confusion matrix per worker, started from majority vote."),
    ("glad", "fieldguide.votes.glad:Glad",
     "GLAD EM: worker ability and task difficulty."),
    ("plantnet", "fieldguide.votes.plantnet:PlantNet",
     "Pl@ntNet's iterative vote weighted by each worker's number of identified species."),
], field="method")


def create(name: str, **params: Any) -> Aggregator:
    """Build a registered strategy by name, e.g. ``create("plantnet", theta_conf=2)``."""
    strategy: Aggregator = REGISTRY[name](**params)
    return strategy


class Aggregator(ABC):
    """Base class: subclasses implement :meth:`fit` and set the result attributes."""

    name: ClassVar[str] = ""
    # Whether the strategy can weigh an AI vote (``ai=`` mode): the CLI asks, not decides.
    takes_ai: ClassVar[bool] = False

    labels_: IntArray
    conf_: FloatArray
    acc_: FloatArray
    validated_: np.ndarray
    weights_: FloatArray

    @abstractmethod
    def fit(self, votes: VoteTable) -> Self:
        """Aggregate ``votes``; returns self with the result attributes set."""

    def fit_predict(self, votes: VoteTable) -> IntArray:
        """Aggregate and return the label code per task (-1 where no label is decided)."""
        return self.fit(votes).labels_

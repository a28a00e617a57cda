"""The estimator shape shared by every aggregation strategy (as in crowd-kit / scikit-learn).

``Strategy(**params).fit(votes)`` then read ``labels_`` (label code per task, -1 = none),
``conf_``, ``acc_``, ``validated_`` per task and ``weights_`` per worker. Parameters live in
``__init__``; results in trailing-underscore attributes. Strategies are registered by name in
:data:`REGISTRY` so specs, the CLI and stored labels all use the same word.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

import numpy as np

from fieldguide.votes.table import FloatArray, IntArray, VoteTable

# name -> "module:Class", imported on first use so the CLI starts fast (as timm's registry).
REGISTRY: dict[str, str] = {
    "majority": "fieldguide.votes.majority:MajorityVote",
    "weighted": "fieldguide.votes.majority:WeightedMajorityVote",
    "wawa": "fieldguide.votes.wawa:Wawa",
    "two-thirds": "fieldguide.votes.two_thirds:TwoThirds",
    "community-taxon": "fieldguide.votes.community_taxon:CommunityTaxon",
    "dawid-skene": "fieldguide.votes.dawid_skene:DawidSkene",
    "glad": "fieldguide.votes.glad:Glad",
    "plantnet": "fieldguide.votes.plantnet:PlantNet",
}


def create(name: str, **params: Any) -> Aggregator:
    """Build a registered strategy by name, e.g. ``create("plantnet", theta_conf=2)``."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown aggregation method {name!r}; known: {', '.join(sorted(REGISTRY))}"
        ) from None
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    strategy: Aggregator = cls(**params)
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

"""Crowd votes -> aggregated labels: majority, weighted, WAWA, TwoThird, iNaturalist's
community taxon, Dawid-Skene, GLAD and the Pl@ntNet strategy, all on one :class:`VoteTable`."""

from fieldguide.votes.base import REGISTRY, Aggregator, create
from fieldguide.votes.table import VoteTable

__all__ = ["REGISTRY", "Aggregator", "VoteTable", "create"]

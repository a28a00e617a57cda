"""Decisions from probabilities, apart from any model code (SpeciesNet style: arrays and
thresholds in, decisions out), so the rule can be tested exhaustively and swapped freely.

The rule (iNaturalist community, seed 001): start at the finest allowed rank and walk up to
the first rank whose most probable taxon clears the threshold; a taxon's probability at a rank
is the sum of its classes' probabilities. A decision at or below ``validate_rank`` is
auto-validated (Naturalis, seed 004): low-risk identifications that need no expert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from fieldguide.taxonomy.ranks import MAIN_RANKS_FINEST_FIRST

#: Ranks from the finest to the coarsest; the classes themselves sit at ``species``.
RANKS = MAIN_RANKS_FINEST_FIRST


@dataclass(frozen=True)
class ClassTree:
    """The model's classes placed at every rank: ``member[rank][i]`` is the index in
    ``names[rank]`` of class i's taxon at that rank, or -1 when the class has none there
    (a class missing from the taxonomy only exists at ``species``)."""

    names: dict[str, tuple[str, ...]]
    member: dict[str, np.ndarray]
    #: Each class's own rank: the rank its lineage names the class itself at ("" when none
    #: does, e.g. a folder label such as "bluebell"). The walk-up starts at the classes (the
    #: ``species`` level), but a decision there reports this rank, never one the class lacks.
    class_rank: tuple[str, ...] = ()

    @property
    def ranks(self) -> tuple[str, ...]:
        return tuple(self.names)


@dataclass(frozen=True)
class Rule:
    """Walk-up thresholds: ``threshold`` in [0, 1]; ranks from ``finest`` to ``coarsest``;
    a decision at ``validate_rank`` or finer is auto-validated."""

    threshold: float = 0.9
    finest: str = "species"
    coarsest: str = "family"
    validate_rank: str = "species"
    #: Auto-validate only taxa a prior expects nearby (iNaturalist's "expected nearby").
    require_nearby: bool = False
    #: Per-group thresholds (``calibrate --groups-at``), in class order: each class's group
    #: ("" for none) and that group's threshold (NaN for none). A row faces the threshold of
    #: its most probable class's group, or ``threshold`` where that class is in no group.
    class_groups: tuple[str, ...] = ()
    class_thresholds: tuple[float, ...] = ()

    def without_groups(self) -> Rule:
        """The same rule with one threshold for every row (a risk table's sweep)."""
        return replace(self, class_groups=(), class_thresholds=())


@dataclass(frozen=True)
class Decisions:
    """One decision per row; ``rank`` is "" and ``taxon`` "" where no rank clears the bar.
    ``threshold`` is the bar each row met or missed, ``group`` the group whose threshold it
    was ("" where the rule's single threshold applied)."""

    taxon: list[str]
    rank: list[str]
    probability: np.ndarray
    auto_validated: np.ndarray
    threshold: np.ndarray | None = None
    group: list[str] | None = None
    #: Per row, the taxon the walk would have answered but the place blocks ("" none).
    blocked: list[str] | None = None


def class_tree(classes: Sequence[str], taxonomy: Mapping[str, Mapping[str, str]],
               ranks: Sequence[str] = RANKS) -> ClassTree:
    """Index the class taxonomy of ``model.json`` ({class: {rank: name}}) once per run."""
    names: dict[str, tuple[str, ...]] = {}
    member: dict[str, np.ndarray] = {}
    for rank in ranks:
        labels = [c if rank == "species" else taxonomy.get(c, {}).get(rank) for c in classes]
        uniq = tuple(sorted({lab for lab in labels if lab}))
        index = {n: j for j, n in enumerate(uniq)}
        names[rank] = uniq
        member[rank] = np.array([index[lab] if lab else -1 for lab in labels], dtype=np.int64)
    own = tuple(next((r for r in ranks if taxonomy.get(c, {}).get(r) == c), "")
                for c in classes)
    return ClassTree(names, member, own)


def class_level_ranks(tree: ClassTree, d: Decisions, rule: Rule) -> Decisions:
    """``d`` with decisions at the class level reporting each class's own rank ("" where it
    has none), and auto-validated only where that rank is at ``rule.validate_rank`` or finer
    (a class without a rank is the finest the model names, so it counts as the class level).
    """
    if not tree.class_rank or "species" not in tree.names:
        return d
    own = {tree.names["species"][tree.member["species"][i]]: r
           for i, r in enumerate(tree.class_rank)}
    ranks = tuple(tree.names)
    deepest = ranks.index(rule.validate_rank) if rule.validate_rank in ranks else -1
    rank = list(d.rank)
    auto = d.auto_validated.copy()
    for i, (t, r) in enumerate(zip(d.taxon, d.rank, strict=True)):
        if r == "species" and t in own:
            rank[i] = own[t]
            if own[t] in ranks:
                auto[i] &= ranks.index(own[t]) <= deepest
    return replace(d, rank=rank, auto_validated=auto)


def rank_probabilities(probs: np.ndarray, tree: ClassTree) -> dict[str, np.ndarray]:
    """(n, K) class probabilities summed to (n, taxa) at every rank (a one-hot product)."""
    out: dict[str, np.ndarray] = {}
    for rank, m in tree.member.items():
        onehot = np.zeros((len(m), len(tree.names[rank])), dtype=probs.dtype)
        known = m >= 0
        onehot[np.flatnonzero(known), m[known]] = 1
        out[rank] = probs @ onehot
    return out


def _span(ranks: Sequence[str], rule: Rule) -> list[str]:
    """The ranks the walk visits, finest first; refuses ranks the tree does not know."""
    for r in (rule.finest, rule.coarsest, rule.validate_rank):
        if r not in ranks:
            raise ValueError(f"rank {r!r} is not one of {', '.join(ranks)}")
    lo, hi = ranks.index(rule.finest), ranks.index(rule.coarsest)
    if lo > hi:
        raise ValueError(f"finest rank {rule.finest!r} is coarser than {rule.coarsest!r}")
    return list(ranks[lo:hi + 1])


def row_thresholds(rank_probs: Mapping[str, np.ndarray], tree: ClassTree,
                   rule: Rule) -> tuple[np.ndarray, list[str]]:
    """Per row, the threshold its walk-up must clear and the group that set it: the group of
    the row's most probable class (``rule.class_groups``), or ``rule.threshold`` and "" where
    that class is in no group or the rule has no groups."""
    n = len(next(iter(rank_probs.values()))) if rank_probs else 0
    threshold = np.full(n, float(rule.threshold))
    group = [""] * n
    if not rule.class_groups or "species" not in tree.member or n == 0:
        return threshold, group
    member = tree.member["species"]
    width = len(tree.names["species"])
    by_column = np.full(width, np.nan)
    names = [""] * width
    for i, (g, t) in enumerate(zip(rule.class_groups, rule.class_thresholds, strict=True)):
        if g and member[i] >= 0:
            by_column[member[i]], names[member[i]] = t, g
    species = np.nan_to_num(rank_probs["species"], nan=-1.0)
    top = np.argmax(species, axis=1)
    grouped = np.isfinite(by_column[top])
    threshold[grouped] = by_column[top][grouped]
    return threshold, [names[j] if g else "" for j, g in zip(top, grouped, strict=True)]


def blocked_masks(tree: ClassTree, blocked: Sequence[frozenset[str]]
                  ) -> dict[str, np.ndarray]:
    """Per rank, (n, taxa) True where the row's place blocks that taxon or any of its
    ancestors (blocking a genus blocks its species)."""
    n = len(blocked)
    lineage: dict[str, list[set[str]]] = {}
    for rank, member in tree.member.items():
        sets: list[set[str]] = [set() for _ in tree.names[rank]]
        for c, j in enumerate(member):
            if j < 0:
                continue
            ranks = tree.ranks
            sets[j] |= {tree.names[r][tree.member[r][c]] for r in ranks[ranks.index(rank):]
                        if tree.member[r][c] >= 0}
        lineage[rank] = sets
    masks = {}
    for rank, sets in lineage.items():
        m = np.zeros((n, len(sets)), dtype=bool)
        for i, names in enumerate(blocked):
            if names:
                m[i] = [bool(s & names) for s in sets]
        masks[rank] = m
    return masks


def decide(rank_probs: Mapping[str, np.ndarray], names: Mapping[str, Sequence[str]],
           rule: Rule, ranks: Sequence[str] = RANKS,
           thresholds: np.ndarray | None = None,
           blocked: Mapping[str, np.ndarray] | None = None) -> Decisions:
    """Walk up from ``rule.finest`` to the first rank whose best taxon has probability >=
    the row's threshold (``thresholds``, else ``rule.threshold``; ties: the first taxon in
    ``names`` order). Rows that never clear it get no taxon and the best probability seen at
    the coarsest rank. A ``blocked`` taxon (per rank, (n, taxa)) is never chosen: its
    probability still counts in its ancestors, so the answer rolls up to the first allowed
    one (SpeciesNet's geofence roll-up); ``Decisions.blocked`` names it."""
    if not 0.0 <= rule.threshold <= 1.0:
        raise ValueError("threshold must lie in [0, 1]")
    span = _span(ranks, rule)
    n = len(next(iter(rank_probs.values())))
    bar = np.full(n, float(rule.threshold)) if thresholds is None else np.asarray(thresholds)
    taxon, rank = [""] * n, [""] * n
    prob = np.zeros(n)
    open_rows = np.ones(n, dtype=bool)
    stopped = [""] * n
    for r in span:
        p = rank_probs[r]
        if p.shape[1] == 0:
            continue
        if blocked is not None and blocked[r].any():
            would = np.argmax(p, axis=1)
            was_blocked = open_rows & blocked[r][np.arange(n), would] & (
                p[np.arange(n), would] >= bar)
            for i in np.flatnonzero(was_blocked):
                stopped[i] = stopped[i] or names[r][would[i]]
            p = np.where(blocked[r], -1.0, p)
        best = np.argmax(p, axis=1)
        best_p = np.maximum(p[np.arange(n), best], 0.0)
        prob[open_rows] = best_p[open_rows]
        hit = open_rows & (best_p >= bar)
        for i in np.flatnonzero(hit):
            taxon[i], rank[i] = names[r][best[i]], r
        open_rows &= ~hit
    deepest = ranks.index(rule.validate_rank)
    auto = np.array([bool(k) and ranks.index(k) <= deepest for k in rank], dtype=bool)
    return Decisions(taxon, rank, prob, auto, bar, None,
                     stopped if blocked is not None else None)


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray,
                 lon2: np.ndarray) -> np.ndarray:
    """Great-circle distances (km), broadcasting the inputs against each other."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2)
    return np.asarray(2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1))))

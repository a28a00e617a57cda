"""The decision core every front end shares: logits + the class tree + priors + rule ->
probabilities at every rank and decisions. Pure functions of arrays (no files, no model), so
the CLI, the web service and the Ray actors give the same answer for the same photo.

    vision = softmax(logits / T)                      calibrated probabilities
    probs  = prior_n(... prior_1(vision, context))    each prior reweights from the context
    ranks  = probs summed up the lineage              probabilities at every rank
    decide = walk up until a taxon clears the rule    (never auto-validating a rejected photo)

A prior is a small object (SpeciesNet's ``geofence_fn`` habit) with a ``name`` and
``apply(probs, context, classes) -> PriorOutput``. It sees only rows whose context it can use:
a photo with no coordinates (or no date, for a season prior) keeps its probabilities for that
part, never a guessed place. The geofence below is the first prior; the place-and-season
prior of ``fieldguide.priors`` is another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from fieldguide.identification.class_values import ClassValues
from fieldguide.identification.decision import (
    ClassTree,
    Decisions,
    Rule,
    blocked_masks,
    class_level_ranks,
    decide,
    haversine_km,
    rank_probabilities,
    row_thresholds,
)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (stable; NaN rows stay NaN)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - np.nanmax(z, axis=1, keepdims=True) if z.size else z
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


@dataclass(frozen=True)
class Context:
    """Where and when each photo (or observation) was taken; NaN where unknown.
    ``day_of_year`` runs 1..366."""

    latitude: np.ndarray
    longitude: np.ndarray
    day_of_year: np.ndarray
    #: ISO 3166 code of each place ("GB-ENG", or "GB"; "" unknown), for place lists; None
    #: when no row has one.
    region: np.ndarray | None = None

    @classmethod
    def of(cls, latitude: ArrayLike, longitude: ArrayLike, day_of_year: ArrayLike) -> Context:
        """From any array-likes of one length (coerced to float; NaN where unknown)."""
        lat, lon, doy = (np.asarray(a, dtype=np.float64).reshape(-1)
                         for a in (latitude, longitude, day_of_year))
        if not len(lat) == len(lon) == len(doy):
            raise ValueError("latitude, longitude and day_of_year differ in length")
        return cls(lat, lon, doy)

    @classmethod
    def unknown(cls, n: int) -> Context:
        nan = np.full(n, np.nan)
        return cls(nan, nan.copy(), nan.copy())

    def __len__(self) -> int:
        return len(self.latitude)

    @property
    def located(self) -> np.ndarray:
        """Rows with a usable place (coordinates in range; anything else is unknown)."""
        lat, lon = self.latitude, self.longitude
        with np.errstate(invalid="ignore"):
            ok: np.ndarray = (np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90)
                              & (np.abs(lon) <= 180))
        return ok

    @property
    def dated(self) -> np.ndarray:
        d = self.day_of_year
        with np.errstate(invalid="ignore"):
            ok: np.ndarray = np.isfinite(d) & (d >= 1) & (d <= 366)
        return ok

    def take(self, rows: np.ndarray) -> Context:
        return Context(self.latitude[rows], self.longitude[rows], self.day_of_year[rows],
                       None if self.region is None else self.region[rows])

    def regions(self) -> list[str]:
        """Each row's ISO 3166 code ("" where unknown)."""
        if self.region is None:
            return [""] * len(self)
        return [str(r) if r else "" for r in self.region]


#: A prior's (rows, classes) values: an array, or, with many classes, a lazy block indexed
#: as one (:class:`~fieldguide.identification.class_values.ClassValues`).
PerClass = np.ndarray | ClassValues


@dataclass
class PriorOutput:
    """A prior's result: reweighted probabilities (rows sum to at most 1), and optionally
    its own score per class (``prior_score``), whether each class is expected nearby, and
    (a restriction to some taxa) the probability each row had outside them."""

    probs: np.ndarray
    score: PerClass | None = None
    expected_nearby: PerClass | None = None
    mass_outside: np.ndarray | None = None
    #: Per row, the taxa (any rank) that may not be answered there (place lists): a blocked
    #: taxon's probability stays, but the answer rolls up to its first allowed ancestor.
    blocked: list[frozenset[str]] | None = None


class Prior(Protocol):
    """What :func:`posterior` takes: reweight class probabilities from a photo's context."""

    @property
    def name(self) -> str: ...

    def apply(self, probs: np.ndarray, context: Context,
              classes: Sequence[str]) -> PriorOutput: ...


@dataclass
class Posterior:
    """Everything decided for a batch: ``vision`` (calibrated model probabilities),
    ``probs`` (after the priors; what is decided on), the last prior's ``prior_score`` and
    ``expected_nearby`` where a prior gives them (arrays, or lazy blocks indexed as arrays:
    :data:`PerClass`), probabilities at every rank and the decisions. Rows whose logits are
    NaN (photos that failed) are NaN and undecided."""

    vision: np.ndarray
    probs: np.ndarray
    rank_probs: dict[str, np.ndarray]
    decisions: Decisions
    prior_score: PerClass | None = None
    expected_nearby: PerClass | None = None
    rejected: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: Per prior name (in the order applied), the rows whose probabilities it changed.
    changed_by: dict[str, np.ndarray] = field(default_factory=dict)
    #: With a restriction to some taxa: each row's probability outside them, before
    #: renormalising (NaN on failed rows).
    mass_outside: np.ndarray | None = None
    #: With place lists: the taxa blocked at each row's place (see :class:`PriorOutput`).
    blocked: list[frozenset[str]] | None = None


def _nearby_at_decision(nearby: PerClass, tree: ClassTree, d: Decisions) -> np.ndarray:
    """Per row: is the decided taxon (any of its classes) expected nearby?"""
    out = np.zeros(len(d.rank), dtype=bool)
    for i, (rank, taxon) in enumerate(zip(d.rank, d.taxon, strict=True)):
        if not rank:
            continue
        j = tree.names[rank].index(taxon)
        out[i] = bool(nearby[i, tree.member[rank] == j].any())
    return out


def posterior(logits: np.ndarray, tree: ClassTree, *, classes: Sequence[str],
              temperature: float = 1.0, priors: Sequence[Prior] = (), rule: Rule | None = None,
              context: Context | None = None, rejected: np.ndarray | None = None) -> Posterior:
    """Calibrate, apply the priors in order, roll up to every rank and decide.

    ``logits`` may also be log-probabilities (an observation's combined photos); ``classes``
    names the columns for the priors. ``rejected`` rows are decided but never
    auto-validated; with ``rule.require_nearby`` neither is a taxon not expected nearby.
    """
    rule = rule or Rule()
    if temperature <= 0 or not np.isfinite(temperature):
        raise ValueError("temperature must be > 0")
    n = len(logits)
    ok = np.isfinite(logits).all(axis=1) if n else np.zeros(0, dtype=bool)
    vision = np.full(np.shape(logits), np.nan)
    vision[ok] = softmax(logits[ok], temperature)
    probs = vision.copy()
    score: PerClass | None = None
    nearby: PerClass | None = None
    outside: np.ndarray | None = None
    blocked: list[frozenset[str]] | None = None
    changed_by: dict[str, np.ndarray] = {}
    if priors:
        ctx = context if context is not None else Context.unknown(n)
        rows = np.flatnonzero(ok)
        for prior in priors:
            out = prior.apply(probs[rows], ctx.take(rows), classes)
            changed = np.zeros(n, dtype=bool)
            changed[rows] = np.any(np.abs(out.probs - probs[rows]) > 1e-12, axis=1)
            if out.blocked is not None:
                blocked = blocked or [frozenset()] * n
                for r, names in zip(rows, out.blocked, strict=True):
                    blocked[r] = blocked[r] | names
                    changed[r] |= bool(names)
            changed_by[prior.name] = changed_by.get(prior.name, changed) | changed
            if out.mass_outside is not None:
                outside = np.full(n, np.nan) if outside is None else outside
                # restrictions in a row compound: what the first left, the next cuts again
                kept_before = 1.0 - np.nan_to_num(outside[rows], nan=0.0)
                outside[rows] = 1.0 - kept_before * (1.0 - out.mass_outside)
            probs[rows] = out.probs
            if out.score is not None:
                score = _spread(out.score, rows, n, np.nan, np.float64)
            if out.expected_nearby is not None:
                nearby = _spread(out.expected_nearby, rows, n, True, np.bool_)
    rejected = np.zeros(n, dtype=bool) if rejected is None else np.asarray(rejected, bool)
    per_rank = rank_probabilities(np.where(ok[:, None], probs, 0.0), tree)
    decisions = decide_rows(per_rank, tree, rule, ok, rejected, nearby, blocked)
    for rank in per_rank:
        per_rank[rank][~ok] = np.nan
    return Posterior(vision, probs, per_rank, decisions, score, nearby, rejected, changed_by,
                     outside, blocked)


def _spread(values: PerClass, rows: np.ndarray, n: int, fill: float | bool,
            dtype: type[np.generic]) -> PerClass:
    """A prior's values for ``rows`` as the batch's ``n`` rows, ``fill`` on the others (an
    array of ``dtype``, or a lazy block spread)."""
    if isinstance(values, ClassValues):
        return values.spread(rows, n, fill)
    out = np.full((n, values.shape[1]), fill, dtype=dtype)
    out[rows] = values
    return out


def decide_rows(per_rank: dict[str, np.ndarray], tree: ClassTree, rule: Rule, ok: np.ndarray,
                rejected: np.ndarray, nearby: PerClass | None = None,
                blocked: Sequence[frozenset[str]] | None = None) -> Decisions:
    """The decisions ``identify`` writes, from probabilities at every rank: the walk-up, each
    class's own rank, never auto-validating a rejected or failed row (nor, with
    ``rule.require_nearby``, a taxon not expected nearby). Risk-coverage tables call this too,
    so a table and the rows it summarises cannot disagree. ``blocked`` taxa (place lists)
    are never the answer: the walk passes them by, up to the first allowed ancestor."""
    bar, group = row_thresholds(per_rank, tree, rule)
    masks = blocked_masks(tree, blocked) if blocked is not None else None
    walked = decide(per_rank, tree.names, rule, tree.ranks, bar, masks)
    d = class_level_ranks(tree, walked, rule)
    auto = d.auto_validated & ok & ~rejected
    if rule.require_nearby and nearby is not None:
        auto &= _nearby_at_decision(nearby, tree, walked)
    return Decisions([t if o else "" for t, o in zip(d.taxon, ok, strict=True)],
                     [r if o else "" for r, o in zip(d.rank, ok, strict=True)],
                     np.where(ok, d.probability, np.nan), auto, np.where(ok, bar, np.nan),
                     [g if o else "" for g, o in zip(group, ok, strict=True)],
                     None if d.blocked is None
                     else [b if o else "" for b, o in zip(d.blocked, ok, strict=True)])


class Geofence:
    """Accept only taxa recorded nearby (the community's rule of thumb, seed 001: within
    50 km): a class with no known record within ``radius_km`` of the photo gets probability
    0, without renormalising, so the mass of far-away taxa is not handed to the nearby ones
    and no confidence is inflated. Photos without a place allow every class."""

    name = "geofence"

    def __init__(self, taxon: Sequence[str], latitude: np.ndarray, longitude: np.ndarray,
                 radius_km: float = 50.0) -> None:
        if not radius_km > 0:
            raise ValueError("radius_km must be > 0")
        lat, lon = np.asarray(latitude, float), np.asarray(longitude, float)
        keep = Context(lat, lon, np.ones(len(lat))).located
        self.taxon = [t for t, k in zip(taxon, keep, strict=True) if k]
        self.latitude, self.longitude = lat[keep], lon[keep]
        self.radius_km = radius_km

    def nearby(self, context: Context, classes: Sequence[str]) -> np.ndarray:
        """(n, K) mask: class k has a record within the radius of row i."""
        index = {c: i for i, c in enumerate(classes)}
        known = np.array([t in index for t in self.taxon], dtype=bool)
        cls = np.array([index.get(t, 0) for t in self.taxon], dtype=np.int64)[known]
        lat, lon = self.latitude[known], self.longitude[known]
        allowed = np.ones((len(context), len(classes)), dtype=bool)
        located = np.flatnonzero(context.located)
        for start in range(0, len(located), 256):
            rows = located[start:start + 256]
            dist = haversine_km(context.latitude[rows, None], context.longitude[rows, None],
                                lat[None], lon[None])
            near = np.zeros((len(rows), len(classes)), dtype=bool)
            i, j = np.nonzero(dist <= self.radius_km)
            near[i, cls[j]] = True
            allowed[rows] = near
        return allowed

    def apply(self, probs: np.ndarray, context: Context, classes: Sequence[str]) -> PriorOutput:
        allowed = self.nearby(context, classes)
        return PriorOutput(np.where(allowed, probs, 0.0), None, allowed)


class Subtree:
    """A restriction to some taxa as a prior (the service's ``taxon`` and ``taxa`` fields,
    ``identify --within`` and ``--taxa``; like iNaturalist's ``taxon_id``): classes outside
    get probability 0, the rest are renormalised, and the probability that was outside is
    reported (``mass_outside``: near 1 says the photo is likely none of the allowed taxa).
    ``keep`` marks the classes inside; ``name`` says which restriction it is in an
    answer's provenance (``within:Asteraceae``, ``checklist``)."""

    def __init__(self, keep: np.ndarray, name: str = "within") -> None:
        self.keep = np.asarray(keep, dtype=bool)
        self.name = name

    def apply(self, probs: np.ndarray, context: Context, classes: Sequence[str]) -> PriorOutput:
        kept = np.where(self.keep[None, :], probs, 0.0)
        total = kept.sum(axis=1, keepdims=True)
        inside = np.divide(kept, total, out=np.zeros_like(kept), where=total > 0)
        before = probs.sum(axis=1)
        outside = np.clip(1.0 - np.divide(total[:, 0], before, out=np.zeros_like(before),
                                          where=before > 0), 0.0, 1.0)
        return PriorOutput(inside, mass_outside=outside)

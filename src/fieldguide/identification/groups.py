"""Thresholds per taxon group: one global threshold auto-validates too much in hard groups
and too little in easy ones (BirdNET users asked for per-species thresholds; iNaturalist
reports accuracy per taxon group), so ``calibrate --groups-at RANK`` (or ``--groups FILE``, a
list of clades) picks, for each group, the lowest threshold whose auto-validated answers
reach a target precision on the validation split, and stores them in the model card.

A row belongs to the group of its most probable class; a class-level answer is right when
that class is the label. For a group with ``n`` validation photos whose own best threshold
is ``t_g``, the stored threshold is shrunk toward its parent's::

    t = (n * t_g + k * t_parent) / (n + k)        k = ``shrink`` (20 photos by default)

so a group seen on a handful of photos mostly inherits its parent's threshold and one seen
on hundreds keeps its own. The parent of a group at a rank is its taxon at the next coarser
rank the classes name (itself shrunk toward the global threshold, fitted on every photo);
the parent of a listed clade is the global threshold. A group where no threshold reaches the
target gets ``t_g = 1``: only certain answers pass. Classes in no group (no taxon at that
rank, or in no listed clade) face the single ``--threshold`` of ``identify``.

The precision reached on the validation split is reported with its binomial standard error
(``sqrt(p (1 - p) / n)``), the sampling error a held-out check is judged against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.decision import Rule
from fieldguide.taxonomy.ranks import MAIN_RANKS_FINEST_FIRST

#: The card's ``extras`` key.
KEY = "group_thresholds"
#: Validation photos a group's own threshold counts as (the shrinkage's k).
SHRINK = 20.0


@dataclass(frozen=True)
class GroupSpec:
    """How ``calibrate`` forms groups and what it aims for: a ``rank`` or listed ``clades``
    (one of them), the target precision in (0, 1) and the shrinkage ``k``."""

    target: float
    rank: str | None = None
    clades: tuple[str, ...] = ()
    shrink: float = SHRINK


@dataclass(frozen=True)
class GroupFigures:
    """One group on a labelled split: its photos (top class in the group), the threshold,
    the share auto-validated at it (coverage), their precision and its standard error."""

    group: str
    n: int
    threshold: float
    own: float | None
    coverage: float
    precision: float
    standard_error: float


@dataclass(frozen=True)
class GroupThresholds:
    """What the card stores: how groups are formed (``rank``, or the listed ``clades``),
    the target precision, the shrinkage, the global threshold, each group's threshold and
    each class's group, and the figures on the split they were fitted on."""

    target: float
    shrink: float
    overall: float
    thresholds: dict[str, float]
    class_group: dict[str, str]
    rank: str | None = None
    clades: tuple[str, ...] = ()
    figures: tuple[GroupFigures, ...] = ()

    def rule(self, rule: Rule, classes: Sequence[str]) -> Rule:
        """``rule`` with these thresholds for the model's ``classes``."""
        groups = tuple(self.class_group.get(c, "") for c in classes)
        return replace(rule, class_groups=groups, class_thresholds=tuple(
            self.thresholds[g] if g else float("nan") for g in groups))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["clades"] = list(self.clades)
        d["figures"] = [asdict(f) for f in self.figures]
        return d

    @classmethod
    def from_dict(cls, d: Any, where: Path | None = None) -> GroupThresholds:
        """From the card, refusing what a hand edit could break (one line, naming the key)."""
        field = f"extras.{KEY}"
        if not isinstance(d, dict):
            raise InputError("must be an object", path=where, field=field)
        try:
            thresholds = {str(k): float(v) for k, v in dict(d["thresholds"]).items()}
            class_group = {str(k): str(v) for k, v in dict(d["class_group"]).items()}
            target, shrink, overall = (float(d[k]) for k in ("target", "shrink", "overall"))
            figures = tuple(GroupFigures(**f) for f in d.get("figures", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"is damaged ({exc})", path=where, field=field) from None
        for g, t in thresholds.items():
            if not 0.0 < t <= 1.0:
                raise InputError(f"threshold of {g!r} is {t}, outside (0, 1]", path=where,
                                 field=field)
        missing = sorted({g for g in class_group.values() if g and g not in thresholds})
        if missing:
            raise InputError(f"group {missing[0]!r} has no threshold", path=where, field=field)
        rank = d.get("rank")
        return cls(target, shrink, overall, thresholds, class_group,
                   None if rank is None else str(rank), tuple(map(str, d.get("clades", []))),
                   figures)

    def text(self) -> str:
        """A table of the groups on the split they were fitted on."""
        how = f"at {self.rank}" if self.rank else f"of {len(self.clades)} listed clades"
        lines = [f"group thresholds {how}, target precision {self.target:.3f} (shrink "
                 f"{self.shrink:g} photos; global threshold {self.overall:.3f})",
                 "| group | photos | own | threshold | coverage | precision | s.e. |",
                 "|---|---|---|---|---|---|---|"]
        for f in self.figures:
            own = "-" if f.own is None else f"{f.own:.3f}"
            lines.append(f"| {f.group} | {f.n} | {own} | {f.threshold:.3f} | "
                         f"{f.coverage:.1%} | {f.precision:.3f} | {f.standard_error:.3f} |")
        return "\n".join(lines)


def best_threshold(confidence: np.ndarray, right: np.ndarray, target: float) -> float | None:
    """The lowest threshold at which the answers with ``confidence >= threshold`` are right
    at least ``target`` of the time (most coverage); None when none is (or no row)."""
    if len(confidence) == 0:
        return None
    order = np.argsort(-confidence, kind="stable")
    conf, hits = confidence[order], right[order].astype(np.float64)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    # a threshold equal to a confidence admits every tie: judge at the last of each tie
    last = np.r_[conf[1:] != conf[:-1], True]
    good = np.flatnonzero(last & (precision >= target))
    return None if len(good) == 0 else float(conf[good[-1]])


def precision_at(confidence: np.ndarray, right: np.ndarray,
                 threshold: float) -> tuple[float, float, float]:
    """(coverage, precision, its binomial standard error) of the answers at or above
    ``threshold`` (precision NaN when none is)."""
    taken = confidence >= threshold
    k = int(taken.sum())
    if k == 0:
        return 0.0, float("nan"), float("nan")
    p = float(right[taken].mean())
    return k / max(len(confidence), 1), p, float(np.sqrt(p * (1 - p) / k))


def check_target(target: float) -> float:
    if not 0.0 < target < 1.0:
        raise InputError(f"{target} is outside (0, 1)", field="--target-precision")
    return target


def class_groups(classes: Sequence[str], lineage: Mapping[str, Mapping[str, str]], *,
                 rank: str | None = None, clades: Sequence[str] = ()) -> dict[str, str]:
    """Each class's group: its taxon at ``rank``, or the finest of ``clades`` its lineage
    (or the class itself) names; "" for none."""
    out: dict[str, str] = {}
    for c in classes:
        chain = {"species": c, **{r: n for r, n in lineage.get(c, {}).items()}}
        if rank is not None:
            out[c] = c if rank == "species" else chain.get(rank, "")
            continue
        listed = set(clades)
        names = [c, *(chain[r] for r in MAIN_RANKS_FINEST_FIRST if r in chain)]
        out[c] = next((n for n in names if n in listed), "")
    return out


def _parent_of(classes: Sequence[str], lineage: Mapping[str, Mapping[str, str]],
               groups: Mapping[str, str], rank: str | None) -> dict[str, str]:
    """Each group's parent taxon (the next coarser rank its classes name), "" for the
    global threshold (listed clades, or nothing coarser)."""
    if rank is None or rank not in MAIN_RANKS_FINEST_FIRST:
        return {g: "" for g in set(groups.values()) if g}
    coarser = MAIN_RANKS_FINEST_FIRST[MAIN_RANKS_FINEST_FIRST.index(rank) + 1:]
    out: dict[str, str] = {}
    for c in classes:
        g = groups[c]
        if g and g not in out:
            out[g] = next((lineage.get(c, {})[r] for r in coarser
                           if lineage.get(c, {}).get(r)), "")
    return out


def fit_group_thresholds(probs: np.ndarray, y: np.ndarray, classes: Sequence[str],
                         lineage: Mapping[str, Mapping[str, str]], target: float, *,
                         rank: str | None = None, clades: Sequence[str] = (),
                         shrink: float = SHRINK) -> GroupThresholds:
    """The thresholds per group on labelled ``probs`` (rows: calibrated class probabilities,
    after any prior) and true class indices ``y`` (see the module for the rule)."""
    check_target(target)
    if (rank is None) == (not clades):
        raise InputError("give a rank or a list of clades, not both nor neither",
                         field="--groups-at")
    if not shrink >= 0:
        raise InputError("must be >= 0", field="--shrink")
    top = np.argmax(probs, axis=1)
    confidence = probs[np.arange(len(y)), top]
    right = top == y
    groups = class_groups(classes, lineage, rank=rank, clades=clades)
    parent = _parent_of(classes, lineage, groups, rank)
    overall = best_threshold(confidence, right, target)
    overall_t = 1.0 if overall is None else overall

    def rows_of(mapping: Mapping[str, str], name: str) -> np.ndarray:
        inside = np.array([mapping.get(c, "") == name for c in classes], dtype=bool)
        return np.asarray(inside[top])

    def shrunk(rows: np.ndarray, toward: float) -> tuple[float, float | None]:
        n = int(rows.sum())
        own = best_threshold(confidence[rows], right[rows], target)
        fitted = 1.0 if own is None else own
        return (n * fitted + shrink * toward) / (n + shrink) if n + shrink > 0 else toward, own

    parent_of_class = {c: parent.get(groups[c], "") for c in classes}
    parent_t = {p: shrunk(rows_of(parent_of_class, p), overall_t)[0]
                for p in set(parent.values()) if p}
    thresholds: dict[str, float] = {}
    figures = []
    for g in sorted({g for g in groups.values() if g}):
        rows = rows_of(groups, g)
        t, own = shrunk(rows, parent_t.get(parent[g], overall_t))
        t = float(min(max(t, 1e-6), 1.0))
        thresholds[g] = t
        cov, prec, se = precision_at(confidence[rows], right[rows], t)
        figures.append(GroupFigures(g, int(rows.sum()), t, own, cov, prec, se))
    return GroupThresholds(target, float(shrink), overall_t, thresholds, groups, rank,
                           tuple(clades), tuple(figures))


def group_figures(probs: np.ndarray, y: np.ndarray, classes: Sequence[str],
                  fitted: GroupThresholds) -> list[GroupFigures]:
    """Coverage and precision per group at the stored thresholds on another labelled split
    (the report's table; the acceptance check on the test split)."""
    top = np.argmax(probs, axis=1)
    confidence = probs[np.arange(len(y)), top]
    right = top == y
    group_of_top = np.array([fitted.class_group.get(classes[j], "") for j in top])
    out = []
    for g, t in sorted(fitted.thresholds.items()):
        rows = group_of_top == g
        cov, prec, se = precision_at(confidence[rows], right[rows], t)
        out.append(GroupFigures(g, int(rows.sum()), t, None, cov, prec, se))
    return out


def read_clades(path: Path, known: Sequence[str]) -> tuple[str, ...]:
    """A clade list (one taxon name per line, ``#`` comments): names the model's lineage
    does not know are refused with the closest known names."""
    from fieldguide.identification.checklist import read_names

    return tuple(read_names(path, known, what="clade list"))

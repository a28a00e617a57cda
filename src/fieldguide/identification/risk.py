"""Risk-coverage of auto-validation: for each threshold, the share of photos the rule would
accept without an expert (coverage) and how often those are right (precision), so a platform
can pick the threshold that meets its target error rate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from fieldguide.identification.decision import ClassTree, Rule, rank_probabilities
from fieldguide.identification.posterior import PerClass, decide_rows


@dataclass(frozen=True)
class RiskRow:
    threshold: float
    coverage: float  # share auto-validated (decided at validate_rank or finer)
    precision: float  # share of those that are right (NaN when none)
    decided: float  # share decided at any allowed rank
    decided_precision: float  # right at the rank decided (the truth's ancestor there)


def _share(mask: np.ndarray, of: np.ndarray) -> float:
    return float(of[mask].mean()) if mask.any() else float("nan")


def risk_coverage(probs: np.ndarray, y: np.ndarray, tree: ClassTree, rule: Rule,
                  thresholds: Sequence[float], *, rejected: np.ndarray | None = None,
                  nearby: PerClass | None = None) -> list[RiskRow]:
    """One row per threshold, the rest of ``rule`` (rank range, validate rank) unchanged.
    Each row counts the decisions ``identify`` would write at that threshold
    (:func:`decide_rows`): a ``rejected`` photo is never auto-validated, so a platform picking
    its threshold from this table gets the coverage its rows will show."""
    per_rank = rank_probabilities(probs, tree)
    ok = np.ones(len(probs), dtype=bool)
    rejected = np.zeros(len(probs), dtype=bool) if rejected is None else rejected
    # a decision is right when it names the true class or its taxon at the rank reached
    taxa_of = [{tree.names[r][tree.member[r][c]] for r in tree.ranks if tree.member[r][c] >= 0}
               for c in range(len(tree.member[tree.ranks[0]]))]
    rows = []
    for t in thresholds:
        d = decide_rows(per_rank, tree, replace(rule.without_groups(), threshold=t), ok,
                        rejected, nearby)
        right = np.array([bool(name) and name in taxa_of[c]
                          for name, c in zip(d.taxon, y, strict=True)])
        decided = np.array([bool(name) for name in d.taxon])
        rows.append(RiskRow(float(t), float(d.auto_validated.mean()),
                            _share(d.auto_validated, right), float(decided.mean()),
                            _share(decided, right)))
    return rows


def threshold_for(rows: Sequence[RiskRow], max_error: float) -> RiskRow | None:
    """The row with the most coverage whose auto-validated error is at most ``max_error``."""
    ok = [r for r in rows if r.coverage > 0 and 1 - r.precision <= max_error]
    return max(ok, key=lambda r: (r.coverage, -r.threshold)) if ok else None


def risk_table(rows: Sequence[RiskRow]) -> str:
    """Markdown, for the terminal and the docs."""
    lines = ["| threshold | auto-validated | precision | error | decided (any rank) | "
             "precision |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.threshold:.2f} | {r.coverage:.1%} | {r.precision:.2%} | "
                     f"{1 - r.precision:.2%} | {r.decided:.1%} | {r.decided_precision:.2%} |")
    return "\n".join(lines)


THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99)


@dataclass(frozen=True)
class LabelledRun:
    """How an identification run did on photos whose taxon is known."""

    n: int
    top1: float
    ece: float
    temperature: float
    rows: list[RiskRow]

    def text(self) -> str:
        return (f"top-1 {self.top1:.4f} on {self.n} labelled photos, ECE {self.ece:.4f} "
                f"(T = {self.temperature:.3f})\n{risk_table(self.rows)}")


def score_labelled(probs: np.ndarray, labels: Sequence[str], classes: Sequence[str],
                   tree: ClassTree, rule: Rule, temperature: float,
                   thresholds: Sequence[float] = THRESHOLDS, *,
                   rejected: np.ndarray | None = None,
                   nearby: PerClass | None = None) -> LabelledRun | None:
    """Accuracy, calibration error and the risk-coverage table of an annotated batch (photos
    with an unknown label or that failed to decode are left out); None if none is left.
    ``rejected`` and ``nearby`` are the batch's, so the table counts the written decisions."""
    from fieldguide.identification.calibration import ece

    index = {c: i for i, c in enumerate(classes)}
    keep = np.array([lab in index for lab in labels]) & ~np.isnan(probs).any(axis=1)
    if not keep.any():
        return None
    y = np.array([index.get(lab, 0) for lab in labels])[keep]
    kept = probs[keep]
    return LabelledRun(int(keep.sum()), float(np.mean(kept.argmax(1) == y)), ece(kept, y),
                       temperature, risk_coverage(
                           kept, y, tree, rule, thresholds,
                           rejected=None if rejected is None else np.asarray(rejected)[keep],
                           nearby=None if nearby is None else nearby[keep]))

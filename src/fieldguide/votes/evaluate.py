"""Score aggregated labels against ground truth, and compare strategies on the same votes.

Only tasks with a known truth (code != -1, see :func:`fieldguide.votes.io.read_truth`) count in
accuracy, precision and recall; share validated and classes kept use every task.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fieldguide.votes.base import Aggregator, create
from fieldguide.votes.table import IntArray, VoteTable


@dataclass(frozen=True)
class Scores:
    """One strategy's scores (NaN where no task has a truth).

    accuracy: share of truth-bearing tasks whose label equals the truth, validated or not.
    validated: share of all tasks that are validated.
    precision: accuracy among validated truth-bearing tasks (how far a validated label can be
        trusted).
    recall: share of truth-bearing tasks that are validated AND correct (what the thesis calls
        the accuracy of a validating strategy, unvalidated tasks counting as misses).
    classes: distinct labels among validated tasks (how many species survive validation).
    """

    method: str
    accuracy: float
    validated: float
    precision: float
    recall: float
    classes: int
    n_tasks: int
    n_truth: int
    seconds: float = float("nan")


def score(strategy: Aggregator, truth: IntArray, method: str = "", seconds: float = np.nan
          ) -> Scores:
    """Scores of a fitted strategy against ``truth`` (label code per task, -1 = unknown)."""
    labels, valid = strategy.labels_, np.asarray(strategy.validated_, dtype=bool)
    if len(truth) != len(labels):
        raise ValueError(f"truth has {len(truth)} tasks, the labels {len(labels)}")
    known = truth != -1
    correct = (labels == truth) & known
    n_truth = int(known.sum())
    n_valid_truth = int((valid & known).sum())
    return Scores(
        method=method or strategy.name,
        accuracy=_share(int(correct.sum()), n_truth),
        validated=_share(int(valid.sum()), len(labels)),
        precision=_share(int((correct & valid).sum()), n_valid_truth),
        recall=_share(int((correct & valid).sum()), n_truth),
        classes=len(np.unique(labels[valid & (labels >= 0)])),
        n_tasks=len(labels),
        n_truth=n_truth,
        seconds=seconds,
    )


def compare(votes: VoteTable, methods: Sequence[str | Aggregator], truth: IntArray | None = None,
            params: dict[str, dict[str, Any]] | None = None) -> list[Scores]:
    """Fit every method on the same votes and score each (truth all unknown when None).

    ``methods`` are registered names (built with ``params[name]``) or ready strategies.
    """
    truth = np.full(votes.n_tasks, -1, dtype=np.int64) if truth is None else truth
    rows = []
    for method in methods:
        if isinstance(method, str):
            strategy, name = create(method, **(params or {}).get(method, {})), method
        else:
            strategy, name = method, method.name
        start = time.perf_counter()
        strategy.fit(votes)
        rows.append(score(strategy, truth, name, time.perf_counter() - start))
    return rows


def as_rows(scores: Sequence[Scores]) -> list[dict[str, Any]]:
    """The comparison as plain dict rows (for a DataFrame, Arrow table or JSON)."""
    return [asdict(s) for s in scores]


def markdown(scores: Sequence[Scores]) -> str:
    """The comparison as a Markdown table (rates in percent)."""
    head = ("| method | accuracy % | validated % | precision % | recall % | classes | seconds |\n"
            "|---|---:|---:|---:|---:|---:|---:|")
    lines = [head] + [
        f"| {s.method} | {_pct(s.accuracy)} | {_pct(s.validated)} | {_pct(s.precision)} | "
        f"{_pct(s.recall)} | {s.classes} | {s.seconds:.3f} |"
        for s in scores
    ]
    return "\n".join(lines)


def _share(num: int, den: int) -> float:
    return num / den if den else float("nan")


def _pct(x: float) -> str:
    return "n/a" if np.isnan(x) else f"{100 * x:.1f}"


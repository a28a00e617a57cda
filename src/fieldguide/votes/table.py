"""The one input every aggregation strategy takes: a table of votes, coded as integer arrays.

Tasks (observations), workers (users) and labels (taxa) are factorised once into dense codes
``0..n-1`` so that every strategy works on flat NumPy arrays, and the (task, label) pairs that
received at least one vote are indexed once so that weighted sums are a single ``bincount``.
That is what lets a Pl@ntNet-sized set (9M votes, 11K labels) aggregate in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fieldguide.errors import InputError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
PerTask = dict[Any, Any] | tuple[npt.ArrayLike, npt.ArrayLike]


@dataclass(frozen=True)
class VoteTable:
    """Votes coded as integers, plus the optional author, AI vote and AI score per task.

    Build it with :meth:`from_records` (names in any hashable type); the codes are stable:
    tasks, workers and labels are numbered in sorted order of their names, so permuting the
    input rows never changes a result. At most one vote per (task, worker): the last row wins.
    """

    task: IntArray
    worker: IntArray
    label: IntArray
    task_names: npt.NDArray[Any]
    worker_names: npt.NDArray[Any]
    label_names: npt.NDArray[Any]
    author: IntArray | None = None  # worker code per task, -1 where unknown
    ai_label: IntArray | None = None  # label code per task, -1 where the AI gave none
    ai_score: FloatArray | None = None  # AI confidence per task, NaN where none
    n_duplicates_dropped: int = 0
    _pairs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)

    @property
    def n_workers(self) -> int:
        return len(self.worker_names)

    @property
    def n_labels(self) -> int:
        return len(self.label_names)

    @property
    def n_votes(self) -> int:
        return len(self.task)

    @classmethod
    def from_records(
        cls,
        task: Sequence[Any] | npt.ArrayLike,
        worker: Sequence[Any] | npt.ArrayLike,
        label: Sequence[Any] | npt.ArrayLike,
        *,
        authors: PerTask | None = None,
        ai_labels: PerTask | None = None,
        ai_scores: PerTask | None = None,
        label_space: Sequence[Any] | None = None,
    ) -> VoteTable:
        """Code raw votes. ``label_space`` fixes the known labels: a vote outside it is refused.

        ``authors``, ``ai_labels`` and ``ai_scores`` map task names to a value, as a dict or
        as a ``(task_names, values)`` pair of arrays (the fast path for millions of tasks).

        Tasks named only in ``authors``/``ai_labels`` (no human vote) are not added: a task
        with no votes has nothing to aggregate.
        """
        t_raw, w_raw, l_raw = np.asarray(task), np.asarray(worker), np.asarray(label)
        if not (len(t_raw) == len(w_raw) == len(l_raw)):
            raise InputError("task, worker and label columns differ in length")
        if len(t_raw) == 0:
            raise InputError("no votes to aggregate")
        for name, col in (("task", t_raw), ("worker", w_raw), ("label", l_raw)):
            if _has_missing(col):
                raise InputError(f"{name} is missing in some votes", field=name)
        task_names, t = factorize(t_raw)
        worker_names, w = factorize(w_raw)
        if label_space is not None:
            label_names = np.asarray(label_space)
            if len(np.unique(label_names)) != len(label_names):
                raise InputError("label space has repeated labels", field="label")
            order = np.argsort(label_names, kind="stable")
            pos = np.searchsorted(label_names[order], l_raw)
            pos = np.clip(pos, 0, len(label_names) - 1)
            lab = order[pos]
            unknown = label_names[lab] != l_raw
            if unknown.any():
                bad = l_raw[np.flatnonzero(unknown)[0]]
                raise InputError(
                    f"{int(unknown.sum())} vote(s) for labels outside the label space, "
                    f"e.g. {bad!r}", field="label")
        else:
            # AI labels nobody voted for are still labels: the AI may pick them (fixed mode).
            extra = np.asarray([]) if ai_labels is None else _items(ai_labels)[1]
            both = l_raw if len(extra) == 0 else np.concatenate([l_raw, _coerce(extra, l_raw)])
            label_names, lab = factorize(both)
            lab = lab[: len(l_raw)]
        t, w, lab = t.astype(np.int64), w.astype(np.int64), np.asarray(lab, dtype=np.int64)

        # One current vote per (task, worker): keep the last row, as a user's latest vote.
        key = t * len(worker_names) + w
        rev_unique = np.unique(key[::-1], return_index=True)[1]
        keep = np.sort(len(key) - 1 - rev_unique)
        dropped = len(key) - len(keep)
        t, w, lab = t[keep], w[keep], lab[keep]

        author = _per_task(authors, task_names, worker_names, "author")
        ai_label = _per_task(ai_labels, task_names, label_names, "AI label")
        if ai_label is not None and label_space is not None and (ai_label == -2).any():
            raise InputError("AI labels outside the label space", field="ai_label")
        return cls(
            task=t, worker=w, label=lab,
            task_names=task_names, worker_names=worker_names, label_names=label_names,
            author=None if author is None else np.maximum(author, -1),
            ai_label=None if ai_label is None else np.maximum(ai_label, -1),
            ai_score=_per_task(ai_scores, task_names, None, "AI score"),
            n_duplicates_dropped=int(dropped),
        )

    # -- shared kernels ------------------------------------------------------------------

    def pairs(self) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """(pair_of_vote, pair_task, pair_label, task_start) for voted (task, label) pairs.

        Pairs are sorted by task then label; ``task_start[i]`` is the first pair of task i
        (``task_start[n_tasks]`` is the number of pairs). Computed once and cached.
        """
        if "pairs" not in self._pairs:
            key = self.task * self.n_labels + self.label
            uniq, pair_of_vote = np.unique(key, return_inverse=True)
            pair_task = uniq // self.n_labels
            pair_label = uniq % self.n_labels
            task_start = np.searchsorted(pair_task, np.arange(self.n_tasks + 1))
            self._pairs["pairs"] = (pair_of_vote.astype(np.int64), pair_task, pair_label,
                                    task_start.astype(np.int64))
        return self._pairs["pairs"]  # type: ignore[no-any-return]

    def weighted_vote(self, vote_weight: FloatArray) -> tuple[IntArray, FloatArray, FloatArray]:
        """Weighted majority vote: (label, conf, total weight) per task.

        conf is the summed weight behind the winning label; ties go to the lowest label code.
        Tasks whose every vote weighs zero still get their lowest-coded voted label.
        """
        pair_of_vote, pair_task, _, _ = self.pairs()
        pair_w = wsum(pair_of_vote, vote_weight, len(pair_task))
        return self.argmax_pairs(pair_w)

    def argmax_pairs(self, pair_w: FloatArray) -> tuple[IntArray, FloatArray, FloatArray]:
        """Per task: label with the largest pair weight (lowest label on ties), its weight, sum."""
        _, pair_task, pair_label, task_start = self.pairs()
        best = np.maximum.reduceat(pair_w, task_start[:-1])
        idx = np.flatnonzero(pair_w >= best[pair_task])
        # First pair reaching the maximum = lowest label code, pairs being sorted by label.
        first = idx[np.r_[True, pair_task[idx[1:]] != pair_task[idx[:-1]]]]
        total = np.add.reduceat(pair_w, task_start[:-1])
        return pair_label[first], best, total

    def task_sum(self, vote_weight: FloatArray, where: npt.NDArray[np.bool_] | None = None
                 ) -> FloatArray:
        """Sum of ``vote_weight`` per task, over the votes selected by ``where`` (default all)."""
        if where is None:
            return wsum(self.task, vote_weight, self.n_tasks)
        return wsum(self.task[where], vote_weight[where], self.n_tasks)

    def worker_label_pairs(self) -> tuple[IntArray, IntArray]:
        """(pair_of_vote, pair_worker) for distinct (worker, label) pairs; cached.

        Counting the distinct labels a worker gave under some condition is then a boolean
        mark over pairs and one ``bincount``, with no sort per call.
        """
        if "worker_label" not in self._pairs:
            key = self.worker * self.n_labels + self.label
            uniq, pair_of_vote = np.unique(key, return_inverse=True)
            self._pairs["worker_label"] = (pair_of_vote.astype(np.int64),
                                           (uniq // self.n_labels).astype(np.int64))
        return self._pairs["worker_label"]  # type: ignore[no-any-return]

    def with_ai(self) -> VoteTable:
        """These votes plus the AI's label as one more vote on each task it labelled.

        The AI is worker code ``n_workers`` (named "AI"); its rows come after the human ones,
        so ``augmented.worker >= self.n_workers`` marks them. Cached.
        """
        if self.ai_label is None:
            raise InputError("no AI labels were given", field="ai_label")
        if "ai" not in self._pairs:
            has = np.flatnonzero(self.ai_label >= 0)
            self._pairs["ai"] = VoteTable(
                task=np.concatenate([self.task, has]),
                worker=np.concatenate([self.worker, np.full(len(has), self.n_workers)]),
                label=np.concatenate([self.label, self.ai_label[has]]),
                task_names=self.task_names,
                worker_names=np.append(self.worker_names.astype(object), "AI"),
                label_names=self.label_names, author=self.author, ai_label=self.ai_label,
                ai_score=self.ai_score,
            )
        return self._pairs["ai"]  # type: ignore[no-any-return]


def wsum(index: IntArray, weight: FloatArray, n: int) -> FloatArray:
    """``bincount`` with weights, typed as the float array it returns."""
    return np.bincount(index, weights=weight, minlength=n).astype(np.float64, copy=False)


def factorize(col: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], IntArray]:
    """(sorted distinct values, code of each element), as ``np.unique(return_inverse=True)``.

    Integer ids in a compact range take an O(n) presence-mask path: 3x faster on 9M votes.
    """
    if col.dtype.kind in "iu" and len(col):
        lo, hi = int(col.min()), int(col.max())
        if hi - lo < 4 * len(col) + (1 << 20):
            offset = col.astype(np.int64) - lo
            present = np.zeros(hi - lo + 1, dtype=bool)
            present[offset] = True
            codes = np.cumsum(present, dtype=np.int64) - 1
            return (np.flatnonzero(present) + lo).astype(col.dtype), codes[offset]
    names, codes = np.unique(col, return_inverse=True)
    return names, codes.reshape(-1).astype(np.int64)


def _has_missing(col: npt.NDArray[Any]) -> bool:
    if col.dtype.kind == "f":
        return bool(np.isnan(col).any())
    if col.dtype.kind == "O":
        return any(v is None or (isinstance(v, float) and v != v) for v in col.tolist())
    return False


def lookup(names: npt.NDArray[Any], values: npt.NDArray[Any]) -> IntArray:
    """Position of each value in ``names`` (any order), -1 where absent; vectorised.

    Values are first coerced to the names' type (JSON keys arrive as strings).
    """
    values = _coerce(values, names)
    if len(names) == 0 or (values.dtype.kind != names.dtype.kind and not (
            {values.dtype.kind, names.dtype.kind} <= {"i", "u"})):
        return np.full(len(values), -1, dtype=np.int64)
    order = np.argsort(names, kind="stable")
    pos = np.clip(np.searchsorted(names[order], values), 0, len(names) - 1)
    return np.where(names[order][pos] == values, order[pos], -1).astype(np.int64)


def _coerce(values: npt.NDArray[Any], names: npt.NDArray[Any]) -> npt.NDArray[Any]:
    kind = names.dtype.kind
    try:
        if kind in "iu" and values.dtype.kind not in "iu":
            return values.astype(np.int64)
        if kind in "US" and values.dtype.kind not in "US":
            return values.astype(str)
    except (TypeError, ValueError):
        return values
    return values


def _items(mapping: PerTask) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    if isinstance(mapping, dict):
        return np.asarray(list(mapping.keys())), np.asarray(list(mapping.values()))
    return np.asarray(mapping[0]), np.asarray(mapping[1])


def _per_task(mapping: PerTask | None, task_names: npt.NDArray[Any],
              codes: npt.NDArray[Any] | None, what: str) -> npt.NDArray[Any] | None:
    """A {task: value} mapping as an array over task codes; tasks without votes are ignored.

    With ``codes`` the values are coded (-1 where no value, -2 where the value is unknown);
    without, they are floats (NaN where no value).
    """
    if mapping is None:
        return None
    keys, values = _items(mapping)
    pos = lookup(task_names, keys)
    found = pos >= 0
    if codes is None:
        try:
            numbers = values.astype(np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{what} values must be numbers", field=what) from None
        scores = np.full(len(task_names), np.nan)
        scores[pos[found]] = numbers[found]
        return scores
    coded = lookup(codes, values) if len(values) else np.zeros(0, dtype=np.int64)
    out = np.full(len(task_names), -1, dtype=np.int64)
    out[pos[found]] = np.where(coded[found] >= 0, coded[found], -2)
    return out

"""Compiled loops for the Pl@ntNet vote: one pass over the votes per weighted vote or count.

The NumPy formulation sorts 9M (task, label) and (worker, label) keys with ``np.unique`` and
runs several ``bincount``/``reduceat`` passes per round; the profile at Pl@ntNet scale spent
most of its 8 s there. Here the votes are put in (task, label) and (worker, label) order once,
by stable counting sorts (linear in the votes, no comparison sort), and each round is a single
scan, its tasks shared among the cores (a task's arithmetic unchanged). Results are
bit-identical to the NumPy version: a pair's weight is summed in
vote order as ``bincount`` does, and a task's total repeats NumPy's pairwise summation, which
``np.add.reduceat`` uses (it differs from a plain loop from eight labels per task on).

Compiled functions are cached on disk (see :mod:`fieldguide.compiled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import prange

from fieldguide.compiled import group_positions, jit
from fieldguide.votes.table import FloatArray, IntArray


@jit
def _sort_task(lo: int, hi: int, order: Any, label: Any, worker: Any, pair: Any,
               is_author: Any) -> None:
    """Sort one task's votes ``lo:hi`` by label, stably; insertion sort when short."""
    if hi - lo > 32:
        by = lo + np.argsort(label[lo:hi], kind="mergesort")
        order[lo:hi] = order[by]
        label[lo:hi] = label[by]
        worker[lo:hi] = worker[by]
        pair[lo:hi] = pair[by]
        is_author[lo:hi] = is_author[by]
        return
    for i in range(lo + 1, hi):
        v, lab, w, p, a = order[i], label[i], worker[i], pair[i], is_author[i]
        j = i - 1
        while j >= lo and label[j] > lab:
            order[j + 1], label[j + 1], worker[j + 1] = order[j], label[j], worker[j]
            pair[j + 1], is_author[j + 1] = pair[j], is_author[j]
            j -= 1
        order[j + 1], label[j + 1], worker[j + 1], pair[j + 1], is_author[j + 1] = v, lab, w, p, a


@jit
def _pairs(worker: Any, label: Any, n_workers: int, n_labels: int) -> Any:
    """(pair of each vote, first pair of each worker): distinct (worker, label), worker by worker.

    Within a worker, pairs are numbered in order of first appearance; a label's last worker
    and pair are remembered (an array over the labels, small enough to stay in cache).
    """
    worker_start, by_worker = group_positions(worker, n_workers)
    last_worker = np.full(n_labels, -1, dtype=np.int64)
    last_pair = np.empty(n_labels, dtype=np.int64)
    pair_of_vote = np.empty(len(worker), dtype=np.int32)
    pair_start = np.zeros(n_workers + 1, dtype=np.int64)
    n_pairs = 0
    for w in range(n_workers):
        for i in range(worker_start[w], worker_start[w + 1]):
            v = by_worker[i]
            lab = label[v]
            if last_worker[lab] != w:
                last_worker[lab], last_pair[lab] = w, n_pairs
                n_pairs += 1
            pair_of_vote[v] = last_pair[lab]
        pair_start[w + 1] = n_pairs
    return pair_of_vote, pair_start


@jit
def _layout(task: Any, worker: Any, label: Any, author: Any, n_tasks: int, n_workers: int,
            n_labels: int) -> Any:
    n_votes = len(task)
    pair_of_vote, pair_start = _pairs(worker, label, n_workers, n_labels)
    count = np.zeros(n_tasks, dtype=np.int64)
    for t in task:
        count[t] += 1
    # Tasks in order of their number of votes (stably), so each round's loops run over long
    # stretches of equal-sized tasks; branches stay predictable.
    size_start = np.zeros(count.max() + 2, dtype=np.int64)
    for t in range(n_tasks):
        size_start[count[t] + 1] += 1
    size_start = np.cumsum(size_start)
    task_order = np.empty(n_tasks, dtype=np.int64)
    position = np.empty(n_tasks, dtype=np.int64)
    for t in range(n_tasks):
        p = size_start[count[t]]
        size_start[count[t]] += 1
        task_order[p], position[t] = t, p
    task_start = np.zeros(n_tasks + 1, dtype=np.int64)
    for p in range(n_tasks):
        task_start[p + 1] = task_start[p] + count[task_order[p]]
    # Each vote and its columns go to its task's next slot (votes in their own order).
    fill = task_start[:-1].copy()
    order = np.empty(n_votes, dtype=np.int64)
    label_col = np.empty(n_votes, dtype=np.int32)
    worker_col = np.empty(n_votes, dtype=np.int32)
    pair_col = np.empty(n_votes, dtype=np.int32)
    is_author = np.empty(n_votes, dtype=np.bool_)
    for v in range(n_votes):
        p = position[task[v]]
        i = fill[p]
        fill[p] += 1
        order[i], label_col[i], worker_col[i], pair_col[i] = v, label[v], worker[v], pair_of_vote[v]
        is_author[i] = author[task[v]] == worker[v]
    for p in range(n_tasks):
        if task_start[p + 1] - task_start[p] > 1:
            _sort_task(task_start[p], task_start[p + 1], order, label_col, worker_col, pair_col,
                       is_author)
    return (order, task_order, task_start, label_col, worker_col, pair_col, is_author,
            pair_start)


@dataclass(frozen=True)
class Layout:
    """The votes grouped by task, with their columns and distinct (worker, label) pairs.

    Tasks are visited in ``task_order`` (by number of votes, then code): per-task arrays in
    the kernels are in that order; :meth:`tasks` and :meth:`untasks` convert. ``by_task``
    lists the votes task by task, by label within a task, then by position (the order
    ``bincount`` adds them in); ``task_start[i]`` is the first vote of the i-th task visited.
    The columns are in ``by_task`` order, as 32-bit codes (the rounds are bound by memory
    traffic): ``label``, ``worker``, ``is_author`` (the vote is its task's author's) and
    ``pair``, the vote's (worker, label) pair, numbered so that ``pair_start[u]:pair_start[u
    + 1]`` are worker u's pairs.
    """

    by_task: IntArray
    task_order: IntArray
    task_start: IntArray
    label: npt.NDArray[np.int32]
    worker: npt.NDArray[np.int32]
    pair: npt.NDArray[np.int32]
    is_author: npt.NDArray[np.bool_]
    pair_start: IntArray
    max_votes: int
    n_single: int  # tasks with one vote: the first ones visited (votes 0..n_single-1)
    single_seen: npt.NDArray[np.uint8]  # 1 on the pairs of those votes, 0 elsewhere

    @classmethod
    def of(cls, task: IntArray, worker: IntArray, label: IntArray, author: IntArray,
           n_tasks: int, n_workers: int, n_labels: int) -> Layout:
        """Lay out votes coded ``0..n-1`` (``author``: worker code per task, -1 where unknown).

        Counting sorts: linear in the votes, bar sorting each task's few labels.
        """
        if len(task) >= 2**31 or n_workers >= 2**31:
            raise ValueError("2**31 votes or workers or more: 32-bit codes would overflow")
        (by_task, task_order, task_start, label_col, worker_col, pair, is_author,
         pair_start) = _layout(task, worker, label, author, n_tasks, n_workers, n_labels)
        sizes = np.diff(task_start)
        max_votes = int(sizes.max()) if n_tasks else 0
        n_single = int(np.searchsorted(sizes, 1, side="right"))  # sizes ascend
        single_seen = np.zeros(pair_start[-1], dtype=np.uint8)
        single_seen[pair[:n_single]] = 1
        return cls(by_task, task_order, task_start, label_col, worker_col, pair, is_author,
                   pair_start, max_votes, n_single, single_seen)

    def tasks(self, per_task: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """A per-task array (by task code) in the kernels' task order."""
        return per_task[self.task_order]

    def untasks(self, in_order: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """A per-task array in the kernels' task order back by task code."""
        out = np.empty_like(in_order)
        out[self.task_order] = in_order
        return out


@jit
def _block_sum(a: Any, lo: int, n: int) -> float:
    """NumPy's pairwise summation of at most 128 values: eight running sums from 8 on."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res  # type: ignore[no-any-return]


@jit
def _pairwise_sum(a: Any, lo: int, n: int) -> float:
    """NumPy's pairwise summation of ``a[lo:lo+n]`` (``DOUBLE_pairwise_sum``), step for step.

    Over 128 values NumPy halves the range (at a multiple of 8) and adds the two halves' sums;
    the halving is walked with an explicit stack, as cached recursive numba functions crash.
    """
    if n <= 128:
        return _block_sum(a, lo, n)
    frame_lo = np.empty(64, dtype=np.int64)
    frame_n = np.empty(64, dtype=np.int64)
    frame_stage = np.empty(64, dtype=np.int64)
    sums = np.empty(64)
    frame_lo[0], frame_n[0], frame_stage[0] = lo, n, 0
    depth, n_sums = 1, 0
    while depth > 0:
        top = depth - 1
        f_lo, f_n = frame_lo[top], frame_n[top]
        if f_n <= 128:
            sums[n_sums] = _block_sum(a, f_lo, f_n)
            n_sums += 1
            depth -= 1
            continue
        half = f_n // 2
        half -= half % 8
        if frame_stage[top] == 0:  # left half next
            frame_stage[top] = 1
            frame_lo[depth], frame_n[depth], frame_stage[depth] = f_lo, half, 0
            depth += 1
        elif frame_stage[top] == 1:  # then the right half
            frame_stage[top] = 2
            frame_lo[depth], frame_n[depth], frame_stage[depth] = f_lo + half, f_n - half, 0
            depth += 1
        else:  # both done: left + right
            sums[n_sums - 2] = sums[n_sums - 2] + sums[n_sums - 1]
            n_sums -= 1
            depth -= 1
    return sums[0]  # type: ignore[no-any-return]


def _task_vote(lo: int, hi: int, label: Any, worker: Any, worker_weight: Any,
               pair_w: Any) -> Any:
    """(label, conf, total) of the votes ``lo:hi`` of one task, as ``VoteTable.weighted_vote``."""
    if hi == lo + 1:  # one vote, most tasks: it wins with its own weight
        w = 0.0 + worker_weight[worker[lo]]
        return label[lo], w, w
    k = 0
    v = lo
    best_label = label[v]
    best = 0.0
    while v < hi:
        lab = label[v]
        w = 0.0  # summed in vote order, as bincount does
        while v < hi and label[v] == lab:
            w += worker_weight[worker[v]]
            v += 1
        pair_w[k] = w
        if k == 0 or w > best:  # ties keep the earlier, lower label
            best, best_label = w, lab
        k += 1
    # np.add.reduceat: the first pair, then the pairwise sum of the rest.
    total = pair_w[0] + _pairwise_sum(pair_w, 1, k - 1) if k > 1 else pair_w[0]
    return best_label, best, total


# Inlined into its callers' loops: a call per task costs more than the task's arithmetic.
_task_vote = jit(_task_vote, inline="always")


@jit
def _weighted_vote(task_start: Any, label: Any, worker: Any, worker_weight: Any,
                   max_pairs: int) -> Any:
    n_tasks = len(task_start) - 1
    labels = np.empty(n_tasks, dtype=np.int64)
    conf = np.empty(n_tasks)
    total = np.empty(n_tasks)
    pair_w = np.empty(max(max_pairs, 1))
    for t in range(n_tasks):
        labels[t], conf[t], total[t] = _task_vote(task_start[t], task_start[t + 1], label,
                                                  worker, worker_weight, pair_w)
    return labels, conf, total


def weighted_vote(layout: Layout, worker_weight: FloatArray, worker: np.ndarray | None = None
                  ) -> tuple[IntArray, FloatArray, FloatArray]:
    """Per task: (label with the largest summed weight, lowest on ties; its weight; the sum).

    A vote weighs its worker's ``worker_weight`` (``worker``: the layout's worker column, or
    a recoded copy). Results are in the layout's task order.
    """
    return _weighted_vote(layout.task_start, layout.label,  # type: ignore[no-any-return]
                          layout.worker if worker is None else worker, worker_weight,
                          layout.max_votes)


@jit
def _count_pairs(seen: Any, pair_start: Any, n_users: int) -> Any:
    n_author = np.zeros(n_users, dtype=np.int64)
    n_any = np.zeros(n_users, dtype=np.int64)
    for u in range(n_users):
        for p in range(pair_start[u], pair_start[u + 1]):
            n_any[u] += seen[p] & 1
            n_author[u] += seen[p] >> 1
    return n_author, n_any


@jit
def _species(task_start: Any, label: Any, pair: Any, is_author: Any, yhat: Any, valid: Any,
             pair_start: Any, n_users: int) -> Any:
    seen = np.zeros(pair_start[-1], dtype=np.uint8)  # 1: matched somewhere, 2: authored
    for t in range(len(task_start) - 1):
        y = yhat[t]
        flag = 3 if valid[t] else 1
        for v in range(task_start[t], task_start[t + 1]):
            if label[v] == y:
                seen[pair[v]] |= flag if is_author[v] else 1
    return _count_pairs(seen, pair_start, n_users)


def species(layout: Layout, yhat: IntArray, valid: np.ndarray, n_users: int
            ) -> tuple[IntArray, IntArray]:
    """Per user u < ``n_users``: (#distinct labels u gave on validated tasks u authored, where
    the label won; #distinct labels u gave where they won); ``yhat`` and ``valid`` per task
    in the layout's task order.
    """
    return _species(layout.task_start, layout.label,  # type: ignore[no-any-return]
                    layout.pair, layout.is_author, yhat, valid, layout.pair_start, n_users)


#: Tasks handed out to a thread at a time by the rounds; chunks are dealt out in turn so both
#: threads get tasks of every size (tasks are in order of their number of votes).
CHUNK = 4096
STRIDES = 16


def _vote_and_count(task_start: Any, label: Any, worker: Any, worker_weight: Any, pair: Any,
                    is_author: Any, pair_start: Any, n_users: int, theta_conf: float,
                    theta_acc: float, ai_label: Any, w_ai: float, max_pairs: int,
                    n_single: int, single_seen: Any) -> Any:
    # Two marks per (worker, label) pair: matched somewhere, and authored on a validated task
    # it won. A one-vote task always elects its vote: those pairs are matched in every round
    # (single_seen), and only an author's vote on a validated task adds a mark. Tasks run on
    # every core; a mark is only ever set to 1, so two threads marking one pair agree and
    # each task's arithmetic is the same as on one core.
    matched = single_seen.copy()
    authored = np.zeros(len(single_seen), dtype=np.uint8)
    invalidating = len(ai_label) > 0
    n_tasks = len(task_start) - 1
    for stride in prange(STRIDES):
        pair_w = np.empty(max(max_pairs, 1))
        first = stride * CHUNK
        while first < n_tasks:
            for t in range(first, min(first + CHUNK, n_tasks)):
                lo, hi = task_start[t], task_start[t + 1]
                if t < n_single:
                    if is_author[lo]:
                        conf = 0.0 + worker_weight[worker[lo]]
                        total = conf
                        if invalidating and ai_label[t] >= 0 and ai_label[t] != label[lo]:
                            total = total + w_ai
                        if conf >= theta_conf and conf / total >= theta_acc:
                            authored[pair[lo]] = 1
                    continue
                y, conf, total = _task_vote(lo, hi, label, worker, worker_weight, pair_w)
                if invalidating and ai_label[t] >= 0 and ai_label[t] != y:
                    total = total + w_ai
                valid = conf >= theta_conf and conf / total >= theta_acc
                for v in range(lo, hi):
                    if label[v] == y:
                        matched[pair[v]] = 1
                        if valid and is_author[v]:
                            authored[pair[v]] = 1
            first += STRIDES * CHUNK
    n_author = np.zeros(n_users, dtype=np.int64)
    n_any = np.zeros(n_users, dtype=np.int64)
    for u in prange(n_users):
        a = 0
        m = 0
        for p in range(pair_start[u], pair_start[u + 1]):
            m += matched[p]
            a += authored[p]
        n_any[u], n_author[u] = m, a
    return n_author, n_any


_vote_and_count = jit(_vote_and_count, parallel=True)


def vote_and_count(layout: Layout, worker_weight: FloatArray, worker: np.ndarray, n_users: int,
                   theta_conf: float, theta_acc: float, ai_label: IntArray | None, w_ai: float
                   ) -> tuple[IntArray, IntArray]:
    """:func:`species` of the :func:`weighted_vote` with these weights, in one pass.

    A task is validated when conf >= ``theta_conf`` and acc >= ``theta_acc``; ``ai_label``
    (per task in the layout's order; invalidating mode) adds ``w_ai`` to the total where it
    disagrees with the winner. Per-task results are not kept: the rounds only need counts.
    """
    no_ai = np.zeros(0, dtype=np.int64)
    return _vote_and_count(  # type: ignore[no-any-return]
        layout.task_start, layout.label, worker, worker_weight, layout.pair, layout.is_author,
        layout.pair_start, n_users, theta_conf, theta_acc,
        no_ai if ai_label is None else ai_label, w_ai, layout.max_votes, layout.n_single,
        layout.single_seen)

"""Compiled loops for the prior: threshold calibration (see :mod:`fieldguide.priors.thresholds`)
and scoring each photo's top classes (see :mod:`fieldguide.priors.prior`).

The NumPy calibration looked up every (cell, taxon) pair with ``searchsorted`` over the whole
count table (tens of millions of random probes per resolution) and sorted all scored pairs by
taxon and score with ``lexsort``; at 1M observations and 60K taxa that was 53 of 58 s of the
build. Here a pair is found by a binary search inside its row only (a cell's few taxa), and
pairs are grouped by taxon with a stable counting sort, each taxon's few hundred scores then
sorted on their own. The scored pairs are put in cell order first (a counting sort too), so
lookups walk the tables forwards instead of probing them at random. Every result is
identical to the NumPy formulation's, ties included: the sorts are stable, so equal keys
keep their original order as ``lexsort`` keeps it."""

from __future__ import annotations

from typing import Any

import numpy as np

from fieldguide.compiled import group_positions, jit


@jit
def pair_counts(ptr: Any, col: Any, count: Any, rows: Any, cols: Any, out: Any) -> None:
    """``out[i]``: the count at (``rows[i]``, ``cols[i]``), left as it is where absent or
    where either index is negative."""
    for i in range(len(rows)):
        r, c = rows[i], cols[i]
        if r < 0 or c < 0:
            continue
        lo, hi = ptr[r], ptr[r + 1]
        end = hi
        while lo < hi:
            mid = (lo + hi) >> 1
            if col[mid] < c:
                lo = mid + 1
            else:
                hi = mid
        if lo < end and col[lo] == c:
            out[i] = count[lo]


@jit
def first_per_taxon(taxa: Any, key: Any, n_taxa: int, cap: int) -> Any:
    """Positions of up to ``cap`` entries per taxon with the smallest ``key``, ordered by
    taxon then key (ties in original order): ``lexsort((key, taxa))`` cut at ``cap`` per
    taxon."""
    start, index = group_positions(taxa, n_taxa)
    out = np.empty(len(taxa), dtype=np.int64)
    n = 0
    for t in range(n_taxa):
        seg = index[start[t]:start[t + 1]]
        if len(seg) == 0:
            continue
        order = np.argsort(key[seg], kind="mergesort")
        for k in range(min(cap, len(seg))):
            out[n] = seg[order[k]]
            n += 1
    return out[:n]


@jit
def best_f1_thresholds(taxa: Any, score: Any, label: Any, out: Any) -> None:
    """``out[t]``: the score of taxon t's pair at which F1 (predict present from the highest
    score down to this pair) is first highest, scores descending, ties in original order;
    untouched for a taxon without presence pairs."""
    start, index = group_positions(taxa, len(out))
    for t in range(len(out)):
        seg = index[start[t]:start[t + 1]]
        positives = 0
        for j in seg:
            positives += label[j]
        if positives == 0:
            continue
        order = np.argsort(-score[seg], kind="mergesort")
        tp = 0
        fp = 0
        best = -1.0
        at = seg[0]
        for k in order:
            j = seg[k]
            if label[j]:
                tp += 1
            else:
                fp += 1
            f1 = 2 * tp / max(tp + fp + positives, 1)
            if f1 > best:
                best = f1
                at = j
        out[t] = score[at]


# -- scoring many classes (see PlaceSeasonPrior.apply) -------------------------------------
@jit
def top_classes(vision: Any, known: Any, top_k: int, ratio: float, mass: float) -> Any:
    """(start, pos): photo i's scored classes are ``pos[start[i]:start[i + 1]]``: its known
    classes, highest vision probability first (ties: lower index first), at most ``top_k``,
    while they are at least ``ratio`` x its highest or hold less than ``mass`` of its
    vision probability."""
    n, k = vision.shape
    start = np.zeros(n + 1, dtype=np.int64)
    pos = np.empty(n * top_k, dtype=np.int64)
    best_v = np.empty(top_k, dtype=np.float64)
    best_j = np.empty(top_k, dtype=np.int64)
    for i in range(n):
        m = 0        # classes held, best_v descending
        total = 0.0
        for j in range(k):
            v = vision[i, j]
            total += v
            if not known[j] or (m == top_k and v <= best_v[m - 1]):
                continue
            at = m if m < top_k else top_k - 1
            while at > 0 and best_v[at - 1] < v:
                best_v[at], best_j[at] = best_v[at - 1], best_j[at - 1]
                at -= 1
            best_v[at], best_j[at] = v, j
            if m < top_k:
                m += 1
        held = 0.0
        out = start[i]
        for a in range(m):
            if a > 0 and best_v[a] < ratio * best_v[0] and held >= mass * total:
                break
            pos[out] = best_j[a]
            held += best_v[a]
            out += 1
        start[i + 1] = out
    return start, pos[:start[n]]


@jit
def mix_rows(vision: Any, start: Any, pos: Any, weight: Any, used: Any, out: Any) -> None:
    """``out[i]``: photo i's vision x weight, renormalised, for the photos ``used`` with at
    least one scored class and a positive total; its vision probabilities unchanged for the
    others. Scored classes have their own ``weight`` (pairs ``start[i]:start[i + 1]``), every
    other class the smallest weight of the photo's scored classes."""
    n, k = vision.shape
    for i in range(n):
        lo, hi = start[i], start[i + 1]
        total = 0.0
        least = 0.0
        if used[i] and hi > lo:
            least = weight[lo]
            for a in range(lo, hi):
                least = min(least, weight[a])
            row_sum = 0.0
            for j in range(k):
                row_sum += vision[i, j]
            scored = 0.0
            mixed = 0.0
            for a in range(lo, hi):
                scored += vision[i, pos[a]]
                mixed += vision[i, pos[a]] * weight[a]
            total = least * max(row_sum - scored, 0.0) + mixed
        if not total > 0:
            out[i, :] = vision[i, :]
            continue
        scale = least / total
        for j in range(k):
            out[i, j] = vision[i, j] * scale
        for a in range(lo, hi):
            out[i, pos[a]] = vision[i, pos[a]] * weight[a] / total


# -- counting (see SparseCounts.from_rows) --------------------------------------------------
@jit
def count_rows(rows: Any, cols: Any, n_rows: int) -> Any:
    """(ptr, col, count, total): records per (row, column) as compressed rows, columns
    ascending within a row, and records per row; a counting sort by row, then each row's
    few columns sorted on their own."""
    start, index = group_positions(rows, n_rows)
    ptr = np.zeros(n_rows + 1, dtype=np.int64)
    col = np.empty(len(rows), dtype=np.int64)
    count = np.empty(len(rows), dtype=np.int64)
    m = 0
    for r in range(n_rows):
        seg = np.sort(cols[index[start[r]:start[r + 1]]])
        j = 0
        while j < len(seg):
            k = j + 1
            while k < len(seg) and seg[k] == seg[j]:
                k += 1
            col[m], count[m] = seg[j], k - j
            m += 1
            j = k
        ptr[r + 1] = m
    return ptr, col[:m], count[:m], np.diff(start)


@jit
def presence_bits(keys: Any, ptr: Any, col: Any, colmap: Any, grid: Any) -> None:
    """Set bit ``colmap[taxon]`` (bit c is bit c % 64 of word c // 64) of ``grid[key]`` for
    every taxon recorded in a table row (taxa with ``colmap`` -1 are not wanted)."""
    for r in range(len(keys)):
        for e in range(ptr[r], ptr[r + 1]):
            c = colmap[col[e]]
            if c >= 0:
                grid[keys[r], c >> 6] |= np.uint64(1) << np.uint64(c & 63)

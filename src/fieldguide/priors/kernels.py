"""Compiled loops for the prior: threshold calibration (see :mod:`fieldguide.priors.thresholds`),
scoring each photo's top classes (see :mod:`fieldguide.priors.prior`) and the radius rule's
bitsets (see :mod:`fieldguide.priors.counts`).

The NumPy calibration looked up every (cell, taxon) pair with ``searchsorted`` over the whole
count table (tens of millions of random probes per resolution) and sorted all scored pairs by
taxon and score with ``lexsort``; at 1M observations and 60K taxa that was 53 of 58 s of the
build. Here a pair is found by a binary search inside its row only (a cell's few taxa), and
pairs are grouped by taxon with a stable counting sort, each taxon's few hundred scores then
sorted on their own. The scored pairs are put in cell order first (a counting sort too), so
lookups walk the tables forwards instead of probing them at random. Every result is
identical to the NumPy formulation's, ties included: the sorts are stable, so equal keys
keep their original order as ``lexsort`` keeps it.

The loops marked parallel share photos, pairs or cells among the cores (numba ``prange``);
each one's arithmetic is the same loop, in the same order, as on one core, so results do not
depend on the number of threads."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange

from fieldguide.compiled import group_positions, jit


@jit
def _entry(ptr: Any, col: Any, r: int, c: int) -> int:
    """The entry of column ``c`` in row ``r`` (a binary search inside the row), -1 where
    absent or either index is negative."""
    if r < 0 or c < 0:
        return -1
    lo, hi = ptr[r], ptr[r + 1]
    end = hi
    while lo < hi:
        mid = (lo + hi) >> 1
        if col[mid] < c:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < end and col[lo] == c else -1


def _pair_counts(ptr: Any, col: Any, count: Any, rows: Any, cols: Any, out: Any) -> None:
    """``out[i]``: the count at (``rows[i]``, ``cols[i]``), left as it is where absent or
    where either index is negative (pairs shared among the cores)."""
    for i in prange(len(rows)):
        e = _entry(ptr, col, rows[i], cols[i])
        if e >= 0:
            out[i] = count[e]


pair_counts = jit(_pair_counts, parallel=True)


def _pair_estimate(photo: Any, cols: Any, p0: Any, g: Any, gq: Any, share: Any, tau: Any,
                   located: Any, dated: Any, b: Any, place: Any, group: Any, season: Any,
                   place_row: Any, group_row: Any, place_nc: Any, season_row: Any,
                   season_w: Any, season_nc: Any, ps_all: Any, alpha: float,
                   alpha_season: float, prob: Any, score: Any) -> None:
    """``CountsPrior.evaluate_pairs``' estimate, one pair at a time (pairs shared among the
    cores), with NumPy's operations in NumPy's order so every value is the same: per
    resolution the place and group counts (``place``, ``group``, ``season``: (ptr, col,
    count) tuples over the resolutions, rows per photo in ``*_row``, row totals in ``*_nc``), then
    the season's three neighbouring windows (weights ``season_w``, float32 as NumPy's
    ``w * float32 counts``)."""
    n_res, m = place_row.shape[0], len(photo)
    p, q = p0.copy(), gq.copy()
    per_res = np.empty((n_res, m))
    for j in range(n_res):       # a resolution's tables taken out of the tuples once
        ptr, col, count = place[0][j], place[1][j], place[2][j]
        gptr, gcol, gcount = group[0][j], group[1][j], group[2][j]
        for i in prange(m):
            ph = photo[i]
            if not located[ph]:
                continue
            e = _entry(ptr, col, place_row[j, ph], cols[i])
            counts = np.float64(count[e]) if e >= 0 else 0.0
            e = _entry(gptr, gcol, group_row[j, ph], g[i])
            gcounts = np.float64(gcount[e]) if e >= 0 else 0.0
            inv = 1 / (place_nc[j, ph] + alpha)
            q[i] = (gcounts + alpha * q[i]) * inv
            base = (1 - tau[i]) * p[i] + tau[i] * share[i] * q[i]
            p[i] = (counts + alpha * base) * inv
            per_res[j, i] = p[i]
    ps = np.empty(m)
    for i in prange(m):
        if dated[photo[i]]:
            ps[i] = ps_all[b[photo[i]], cols[i]]
    for j in range(n_res):
        ptr, col, count = season[0][j], season[1][j], season[2][j]
        for i in prange(m):
            ph = photo[i]
            if not (located[ph] and dated[ph]):
                continue
            counts = 0.0
            for d in range(len(season_w)):
                e = _entry(ptr, col, season_row[j, d, ph], cols[i])
                found = count[e] if e >= 0 else np.float32(0)
                counts += np.float64(season_w[d] * found)
            base = 0.5 * (per_res[j, i] + ps[i])
            ps[i] = (counts + alpha_season * base) / (season_nc[j, ph] + alpha_season)
    for i in prange(m):
        ph = photo[i]
        value = ps[i] if dated[ph] else (p[i] if located[ph] else p0[i])
        prob[i] = value
        lift = value / max(p0[i], 1e-300)
        score[i] = lift / (1 + lift) if cols[i] >= 0 else 0.0


pair_estimate = jit(_pair_estimate, parallel=True)


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
def top_classes(vision: Any, known: Any, top_k: int, ratio: float, mass: float,
                totals: Any = None) -> Any:
    """(start, pos): photo i's scored classes are ``pos[start[i]:start[i + 1]]``: its known
    classes, highest vision probability first (ties: lower index first), at most ``top_k``,
    while they are at least ``ratio`` x its highest or hold less than ``mass`` of its vision
    probability. ``totals`` (n,), when given, receives each photo's vision sum, summed in
    class order as :func:`mix_rows` needs it (one pass over the photos x classes block)."""
    out = np.empty(len(vision)) if totals is None else totals
    return _top_classes(vision, known, top_k, ratio, mass, out)


def _top_classes(vision: Any, known: Any, top_k: int, ratio: float, mass: float,
                 totals: Any) -> Any:
    n, k = vision.shape
    slots = np.empty((n, top_k), dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        best_v = np.empty(top_k, dtype=np.float64)
        best_j = np.empty(top_k, dtype=np.int64)
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
        totals[i] = total
        held = 0.0
        c = 0
        for a in range(m):
            if a > 0 and best_v[a] < ratio * best_v[0] and held >= mass * total:
                break
            slots[i, c] = best_j[a]
            held += best_v[a]
            c += 1
        count[i] = c
    start = np.zeros(n + 1, dtype=np.int64)
    start[1:] = np.cumsum(count)
    pos = np.empty(start[n], dtype=np.int64)
    for i in prange(n):       # each photo's classes in place
        for a in range(count[i]):
            pos[start[i] + a] = slots[i, a]
    return start, pos


_top_classes = jit(_top_classes, parallel=True)


def _mix_rows(vision: Any, totals: Any, start: Any, pos: Any, weight: Any, used: Any,
              out: Any) -> None:
    """``out[i]``: photo i's vision x weight, renormalised, for the photos ``used`` with at
    least one scored class and a positive total; its vision probabilities unchanged for the
    others. Scored classes have their own ``weight`` (pairs ``start[i]:start[i + 1]``),
    every other class the smallest weight of the photo's scored classes; ``totals``: each
    photo's vision sum (:func:`top_classes`). Each element of ``out`` is written once."""
    n, k = vision.shape
    for i in prange(n):
        lo, hi = start[i], start[i + 1]
        total = 0.0
        least = 0.0
        if used[i] and hi > lo:
            least = weight[lo]
            for a in range(lo, hi):
                least = min(least, weight[a])
            scored = 0.0
            mixed = 0.0
            for a in range(lo, hi):
                scored += vision[i, pos[a]]
                mixed += vision[i, pos[a]] * weight[a]
            total = least * max(totals[i] - scored, 0.0) + mixed
        if not total > 0:
            for j in range(k):
                out[i, j] = vision[i, j]
            continue
        scale = least / total
        for j in range(k):
            out[i, j] = vision[i, j] * scale
        for a in range(lo, hi):
            out[i, pos[a]] = vision[i, pos[a]] * weight[a] / total


mix_rows = jit(_mix_rows, parallel=True)


@jit
def pair_values(start: Any, pos: Any, values: Any, rows: Any, cols: Any, out: Any) -> None:
    """``out[q]``: the value of class ``cols[q]`` among row ``rows[q]``'s pairs
    (``pos[start[r]:start[r + 1]]``, a few dozen), left as it is where the row has none."""
    for q in range(len(rows)):
        r, c = rows[q], cols[q]
        for a in range(start[r], start[r + 1]):
            if pos[a] == c:
                out[q] = values[a]
                break


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


def _window_bits(grid: Any, reach: int, dated: Any, anytime: Any) -> None:
    """Per (cell, day window) of ``grid`` (cells, bins, words): ``dated[cell, b]`` the OR of
    windows b - ``reach`` .. b + ``reach`` (round the year), ``anytime[cell]`` the OR of all
    of them (cells shared among the cores)."""
    n_cells, bins, words = grid.shape
    for cell in prange(n_cells):
        anytime[cell, :] = 0
        for b in range(bins):
            for w in range(words):
                anytime[cell, w] |= grid[cell, b, w]
        for b in range(bins):
            dated[cell, b, :] = 0
            for d in range(-reach, reach + 1):
                src = (b + d + bins) % bins
                for w in range(words):
                    dated[cell, b, w] |= grid[cell, src, w]


window_bits = jit(_window_bits, parallel=True)


def _reach_bits(dated: Any, anytime: Any, start: Any, near: Any, out: Any, first: int) -> None:
    """``out[first + q]``: the OR, over data cells ``near[start[q]:start[q + 1]]``, of their
    ``dated`` (cells, bins, words) bitsets, then (last window) of their ``anytime`` ones
    (query cells shared among the cores)."""
    bins, words = dated.shape[1], dated.shape[2]
    for q in prange(len(start) - 1):
        row = out[first + q]
        row[:, :] = 0
        for e in range(start[q], start[q + 1]):
            cell = near[e]
            for b in range(bins):
                for w in range(words):
                    row[b, w] |= dated[cell, b, w]
            for w in range(words):
                row[bins, w] |= anytime[cell, w]


reach_bits = jit(_reach_bits, parallel=True)

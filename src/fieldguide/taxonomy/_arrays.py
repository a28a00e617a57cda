"""Vectorised array algorithms behind ``Taxonomy`` (pointer jumping, per-depth sweeps).

Kept apart from the class so each can be tested and timed on plain arrays; everything here is
O(n log n) NumPy work so a million-taxon tree builds in about a second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fieldguide.errors import InputError
from fieldguide.taxonomy.ranks import normalise_rank

IntArray = NDArray[np.int64]


def coerce_parent_ids(parent_ids: Sequence[Any] | NDArray[Any]) -> IntArray:
    """Parent ids as int64 with -1 for roots (None, NaN, -1 and blanks all mean "no parent")."""
    arr = np.asarray(parent_ids)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        out = np.where(np.isnan(arr), -1, arr)
        return out.astype(np.int64)
    values = []
    for p in arr.tolist():
        if p is None or p == "" or (isinstance(p, float) and math.isnan(p)):
            values.append(-1)
        else:
            values.append(int(p))
    return np.asarray(values, dtype=np.int64)


def lookup_indices(sorted_ids: IntArray, perm: IntArray, query: IntArray) -> IntArray:
    """Row index of each id in ``query`` (-1 where absent), by binary search."""
    if len(sorted_ids) == 0:
        return np.full(len(query), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, query)
    pos = np.minimum(pos, len(sorted_ids) - 1)
    found = sorted_ids[pos] == query
    return np.where(found, perm[pos], -1).astype(np.int64)


def depths_by_pointer_jumping(parent: IntArray, ids: IntArray) -> IntArray:
    """Depth of every node (roots 0) in ceil(log2 n) vectorised rounds; refuses cycles.

    Each round doubles how far every node has looked up the tree; a node still pointing at a
    real node after enough rounds to span the whole tree must be on (or above) a cycle.
    """
    n = len(parent)
    jump = parent.copy()
    dist = (parent >= 0).astype(np.int64)
    rounds = max(1, math.ceil(math.log2(max(n, 2)))) + 1
    for _ in range(rounds):
        live = jump >= 0
        if not live.any():
            break
        safe = np.where(live, jump, 0)
        dist = dist + np.where(live, dist[safe], 0)
        jump = np.where(live, jump[safe], -1)
    if (jump >= 0).any():
        start = int(np.flatnonzero(jump >= 0)[0])
        raise InputError(
            f"parent links form a cycle through taxon id {int(ids[_on_cycle(parent, start)])}",
            field="parent_id",
        )
    return dist


def _on_cycle(parent: IntArray, start: int) -> int:
    """Index of a node on the cycle reached from ``start`` (a plain walk, only on error)."""
    seen: set[int] = set()
    node = start
    while node not in seen:
        seen.add(node)
        node = int(parent[node])
    return node


def group_by_depth(depth: IntArray) -> tuple[IntArray, IntArray]:
    """Nodes ordered by depth, and the offsets where each depth starts (CSR layout)."""
    order = np.argsort(depth, kind="stable").astype(np.int64)
    counts = np.bincount(depth) if len(depth) else np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return order, offsets


def children_csr(parent: IntArray) -> tuple[IntArray, IntArray]:
    """Children of every node as (child indices sorted by parent, offsets per parent)."""
    n = len(parent)
    has_parent = np.flatnonzero(parent >= 0)
    order = has_parent[np.argsort(parent[has_parent], kind="stable")].astype(np.int64)
    counts = np.bincount(parent[has_parent], minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return order, offsets


def nearest_with_flag(
    flag: NDArray[np.bool_], parent: IntArray, order: IntArray, offsets: IntArray
) -> IntArray:
    """For every node, the nearest ancestor-or-self whose ``flag`` is set (-1 if none).

    One vectorised step per depth level, parents before children.
    """
    out = np.full(len(parent), -1, dtype=np.int64)
    for d in range(len(offsets) - 1):
        nodes = order[offsets[d] : offsets[d + 1]]
        if d == 0:
            out[nodes] = np.where(flag[nodes], nodes, -1)
        else:
            out[nodes] = np.where(flag[nodes], nodes, out[parent[nodes]])
    return out


def merge_runs(
    sums: NDArray[Any], run_keys: NDArray[np.int64], big: int
) -> tuple[IntArray, NDArray[Any]]:
    """Rows of ``sums`` (runs x samples) sharing a key (a repeated taxon, or unassigned) summed
    into one column each: a samples x taxa matrix, taxa in id order, the unassigned (-1)
    column last (zeros when no leaf is unassigned)."""
    uniq, inverse = np.unique(run_keys, return_inverse=True)
    has_unassigned = bool(uniq[-1] == big)
    n_assigned = len(uniq) - has_unassigned
    mat = np.zeros((sums.shape[1], n_assigned + 1), dtype=sums.dtype)
    regroup = np.argsort(inverse, kind="stable")
    if len(uniq) == len(run_keys):  # no repeats: a row permutation is enough
        mat[:, : len(uniq)] = sums[regroup].T
    else:
        firsts = np.flatnonzero(np.r_[True, np.diff(inverse[regroup]) != 0])
        mat[:, : len(uniq)] = np.add.reduceat(sums[regroup], firsts, axis=0).T
    return np.append(uniq[:n_assigned], -1).astype(np.int64), mat


def encode_ranks(ranks: Sequence[str | None]) -> tuple[NDArray[np.int16], list[str | None]]:
    """Ranks as small integer codes into a vocabulary (normalised spellings)."""
    vocab: list[str | None] = []
    seen: dict[str | None, int] = {}
    codes = np.empty(len(ranks), dtype=np.int16)
    for i, raw in enumerate(ranks):
        code = seen.get(raw)
        if code is None:
            norm = normalise_rank(raw)
            if norm not in vocab:
                vocab.append(norm)
            code = seen[raw] = vocab.index(norm)
        codes[i] = code
    return codes, vocab

"""Nearest photos of query embeddings, optionally only among photos labelled inside a taxon's
subtree.

A subtree search over few vectors (a genus of a million-photo index) is done exactly on
those vectors: asking IVF for them would probe lists where they barely appear and return
fewer than k. A large subtree goes through faiss with an id selector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fieldguide.search.store import Index, normalised

#: Subtrees up to this many vectors are searched exactly on their reconstructed vectors.
EXACT_SUBSET = 65_536


@dataclass(frozen=True)
class Neighbours:
    """``rows[q, j]`` is the j-th nearest vector of query q (-1 where fewer than k exist),
    ``scores`` its cosine similarity."""

    rows: np.ndarray  # (m, k) int64
    scores: np.ndarray  # (m, k) float32

    def records(self, index: Index, queries: list[str] | None = None) -> list[dict[str, Any]]:
        """One row per (query, neighbour): what a CSV or JSON answer lists."""
        cols = {c: index.column(c) for c in ("photo_id", "observation_id", "path", "label",
                                              "predicted")}
        out = []
        for q in range(len(self.rows)):
            for j, (r, s) in enumerate(zip(self.rows[q], self.scores[q], strict=True)):
                if r < 0:
                    break
                out.append({"query": queries[q] if queries else q, "rank": j + 1,
                            "similarity": round(float(s), 5),
                            **{c: v[r] for c, v in cols.items()}})
        return out


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column positions and values of the k largest per row, best first."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def search_rows(index: Index, queries: np.ndarray, k: int, rows: np.ndarray | None = None,
                nprobe: int | None = None) -> Neighbours:
    """k nearest of normalised ``queries`` among all vectors, or among ``rows`` only."""
    import faiss

    m = len(queries)
    out_rows = np.full((m, k), -1, dtype=np.int64)
    out_scores = np.full((m, k), -np.inf, dtype=np.float32)
    if m == 0 or len(index) == 0 or (rows is not None and len(rows) == 0):
        return Neighbours(out_rows, out_scores)
    if rows is not None and len(rows) <= EXACT_SUBSET:
        pos, vals = _top_k(queries @ index.vectors(rows).T, k)
        out_rows[:, :pos.shape[1]], out_scores[:, :pos.shape[1]] = rows[pos], vals
        return Neighbours(out_rows, out_scores)
    params: Any = None
    if index.layout.kind == "ivf":
        params = faiss.SearchParametersIVF(nprobe=nprobe or index.layout.nprobe)  # type: ignore[call-arg]
    if rows is not None:
        params = params or faiss.SearchParameters()
        params.sel = faiss.IDSelectorBatch(np.ascontiguousarray(rows, dtype=np.int64))
    scores, ids = index.faiss.search(np.ascontiguousarray(queries, dtype=np.float32), k,
                                     params=params)
    found = ids >= 0
    out_rows[found], out_scores[found] = ids[found], scores[found]
    return Neighbours(out_rows, out_scores)


def similar(index: Index, query_embeddings: np.ndarray, k: int = 10, taxon: str | None = None,
            nprobe: int | None = None) -> Neighbours:
    """The k photos most similar to each query embedding (any scale: normalised here); with
    ``taxon``, only photos whose current label lies in its subtree (an unknown name is an
    InputError naming the closest known ones)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    queries = normalised(np.atleast_2d(query_embeddings))
    if queries.shape[1] != index.layout.model.width:
        raise ValueError(f"query embeddings are {queries.shape[1]} wide, the index "
                         f"{index.layout.model.width}")
    rows = None
    if taxon is not None:
        name, _ = index.taxa.resolve(taxon)
        rows = index.rows_within(name)
    return search_rows(index, queries, k, rows, nprobe)

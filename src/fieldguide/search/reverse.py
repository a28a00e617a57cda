"""Reverse search: the observations the model thinks are a taxon but that are not labelled
as it yet, with the evidence an expert needs to decide quickly.

An observation is a candidate for taxon T when its score for T (the probability of T's
subtree, classes rolled up through the lineage: the model's probability that the photo is
*somewhere* in T) reaches ``min_score`` and its current label is not inside T: another taxon
("different"), an ancestor of T such as the genus or "Plantae" ("coarser"), or nothing
("none"). An observation's score is the mean over its photos, so the pass over the index is
one chunked scan of the logits, whatever the number of classes.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.decision import class_tree, rank_probabilities
from fieldguide.identification.posterior import softmax
from fieldguide.inputs.files import atomic_path
from fieldguide.search.query import search_rows
from fieldguide.search.store import Index

COLUMNS = ("position", "observation_id", "photo_id", "path", "score", "label", "label_rank",
           "relation", "alternative", "alternative_score", "photos", "neighbours",
           "neighbour_paths", "neighbour_similarity")
_CHUNK = 65_536


def _probabilities(index: Index, start: int, stop: int) -> np.ndarray:
    return softmax(np.asarray(index.logits[start:stop]), index.layout.temperature)


def photo_scores(index: Index, class_mask: np.ndarray) -> np.ndarray:
    """(n,) each photo's probability of the classes in ``class_mask``, chunk by chunk."""
    out = np.empty(len(index), dtype=np.float64)
    for s in range(0, len(index), _CHUNK):
        out[s:s + _CHUNK] = _probabilities(index, s, s + _CHUNK)[:, class_mask].sum(axis=1)
    return out


def candidates(index: Index, taxon: str, min_score: float = 0.5,
               exclude_reviewed: Collection[str] = (), neighbours: int = 3,
               limit: int | None = None) -> list[dict[str, Any]]:
    """Candidate observations for ``taxon``, best score first (see the module docstring).

    ``exclude_reviewed`` holds observation or photo ids already looked at. Each row names
    the best photo, the current label with its rank and relation to the taxon, the most
    probable other taxon at the taxon's rank, and the ``neighbours`` nearest photos already
    labelled inside the taxon (what the expert compares against).
    """
    if not 0.0 <= min_score <= 1.0:
        raise InputError("min_score must lie in [0, 1]", field="min_score")
    name, rank = index.taxa.resolve(taxon)
    mask = index.taxa.class_mask(name)
    if not mask.any():
        raise InputError(f"no class of the model lies in {name!r}", field="taxon")
    per_photo = photo_scores(index, mask)
    photo_ids = index.column("photo_id")
    groups, which = _observations(index)
    _, first = np.unique(which, return_index=True)
    counts = np.bincount(which, minlength=len(groups))
    score = np.bincount(which, weights=per_photo, minlength=len(groups)) / counts
    labels_all = index.column("label")
    label = [labels_all[i] for i in first]
    reviewed = set(exclude_reviewed)
    skip_photo = np.array([p in reviewed for p in photo_ids], dtype=bool)
    skipped = np.zeros(len(groups), dtype=bool)
    skipped[which[skip_photo]] = True
    keep = [int(g) for g in np.flatnonzero(score >= min_score)
            if not skipped[g] and str(groups[g]) not in reviewed
            and not index.taxa.within(label[g], name)]
    keep.sort(key=lambda g: (-score[g], str(groups[g])))
    keep = keep[:limit] if limit is not None else keep
    if not keep:
        return []
    # the best photo of each candidate and the rank probabilities of its photos
    members = _members(which, keep)
    best = np.array([m[np.argmax(per_photo[m])] for m in members], dtype=np.int64)
    tree = class_tree(index.layout.classes, index.layout.lineage)
    at_rank = list(tree.names[rank])
    j_taxon = at_rank.index(name) if name in at_rank else -1
    labelled = index.rows_within(name)
    near = search_rows(index, index.vectors(best), neighbours, labelled) if neighbours else None
    paths, photo_col = index.column("path"), photo_ids
    rows = []
    for pos, (g, m, b) in enumerate(zip(keep, members, best, strict=True)):
        probs = np.stack([_probabilities(index, int(i), int(i) + 1)[0] for i in m])
        taxa_p = rank_probabilities(probs, tree)[rank].mean(axis=0)
        if j_taxon >= 0:
            taxa_p[j_taxon] = -1.0
        alt = int(np.argmax(taxa_p)) if len(taxa_p) else -1
        lab = label[g]
        relation = "none" if not lab else (
            "coarser" if index.taxa.within(name, lab) else "different")
        row: dict[str, Any] = {
            "position": pos + 1, "observation_id": str(groups[g]), "photo_id": photo_col[b],
            "path": paths[b], "score": round(float(score[g]), 5), "label": lab,
            "label_rank": index.taxa.rank.get(lab, ""), "relation": relation,
            "alternative": at_rank[alt] if alt >= 0 and taxa_p[alt] >= 0 else "",
            "alternative_score": round(float(taxa_p[alt]), 5) if alt >= 0 and taxa_p[alt] >= 0
            else None,
            "photos": int(counts[g]), "neighbours": "", "neighbour_paths": "",
            "neighbour_similarity": None}
        if near is not None:
            hits = [(int(r), float(s)) for r, s in zip(near.rows[pos], near.scores[pos],
                                                       strict=True) if r >= 0]
            row["neighbours"] = ";".join(f"{photo_col[r]}:{s:.3f}" for r, s in hits)
            row["neighbour_paths"] = ";".join(paths[r] for r, _ in hits)
            row["neighbour_similarity"] = round(float(np.mean([s for _, s in hits])), 5) \
                if hits else None
        rows.append(row)
    return rows


def _observations(index: Index) -> tuple[list[str], np.ndarray]:
    """Distinct observation ids (first-seen order) and each vector's position among them."""
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(index.meta.column("observation_id")).combine_chunks()
    return ([str(v) for v in enc.dictionary.to_pylist()],
            enc.indices.to_numpy(zero_copy_only=False).astype(np.int64))


def _members(which: np.ndarray, keep: Sequence[int]) -> list[np.ndarray]:
    """Photo rows of each kept observation, in one sort rather than one scan each."""
    order = np.argsort(which, kind="stable")
    sorted_groups = which[order]
    return [order[np.searchsorted(sorted_groups, g):np.searchsorted(sorted_groups, g,
                                                                     side="right")]
            for g in keep]


def read_reviewed(path: str | Path) -> set[str]:
    """Ids already looked at: a CSV's observation_id and photo_id columns (a review.csv
    written earlier qualifies), or a plain list, one id a line."""
    path = Path(path)
    if not path.is_file():
        raise InputError("reviewed list not found", path=path)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return set()
    header = [h.strip() for h in rows[0]]
    cols = [i for i, h in enumerate(header) if h in ("observation_id", "photo_id")]
    if not cols:
        if len(header) > 1:
            raise InputError("needs an observation_id or photo_id column", path=path, line=1)
        return {r[0].strip() for r in rows if r and r[0].strip()}
    return {r[i].strip() for r in rows[1:] for i in cols if i < len(r) and r[i].strip()}


def write_candidates(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """The review list as CSV, written atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path

"""``fieldguide identify``: photos in, one row per photo and one per observation out, with the
top-k taxa, calibrated probabilities and the walk-up decision.

Several photos of one observation are combined by the mean of their log-probabilities
(renormalised): a product of experts that treats the photos as independent evidence, so one
sharp close-up outweighs two blurry wide shots, where a mean of probabilities would average
the sharp answer away. The part files go once the outputs are written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fieldguide.errors import InputError
from fieldguide.identification.decision import (
    Rule,
    decide,
    geofence,
    nearby_classes,
    rank_probabilities,
)
from fieldguide.identification.inputs import Photos
from fieldguide.identification.model import Classifier
from fieldguide.identification.runner import Progress, RunOptions, read_parts, run_parts
from fieldguide.models.runtime import softmax


@dataclass(frozen=True)
class Occurrences:
    """Known records (class name, latitude, longitude) and the geofence radius."""

    taxon: Sequence[str]
    latitude: np.ndarray
    longitude: np.ndarray
    radius_km: float = 50.0


@dataclass
class Annotation:
    photos: pa.Table
    observations: pa.Table
    probs: np.ndarray  # (n, K) per photo as decided on (calibrated, fenced), NaN on errors
    scored: int  # photos scored by this call (fewer than all when it resumed)


def combine_observations(log_probs: np.ndarray, groups: Sequence[str],
                         ok: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per observation (first-seen order): its id, the softmax of the mean log-probability of
    its decoded photos (NaN rows when none decoded) and its number of decoded photos."""
    ids = list(dict.fromkeys(groups))
    index = {g: j for j, g in enumerate(ids)}
    g = np.array([index[x] for x in groups], dtype=np.int64)
    sums = np.zeros((len(ids), log_probs.shape[1]))
    np.add.at(sums, g[ok], log_probs[ok])
    counts = np.bincount(g[ok], minlength=len(ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts[:, None]
    probs = np.full_like(mean, np.nan)
    probs[counts > 0] = softmax(mean[counts > 0])
    return ids, probs, counts


def _columns(probs: np.ndarray, classes: Sequence[str], model: Classifier, rule: Rule,
             k: int) -> dict[str, Any]:
    """Top-k and decision columns; rows of NaN (undecodable) stay empty."""
    ok = ~np.isnan(probs).any(axis=1)
    safe = np.where(ok[:, None], probs, 0.0)
    k = min(k, len(classes))
    top = np.argsort(-safe, axis=1, kind="stable")[:, :k]
    cols: dict[str, Any] = {}
    for j in range(k):
        cols[f"taxon_{j + 1}"] = [classes[t] if o else None for t, o in zip(top[:, j], ok,
                                                                             strict=True)]
        cols[f"prob_{j + 1}"] = np.where(ok, safe[np.arange(len(safe)), top[:, j]], np.nan)
    tree = model.tree()
    d = decide(rank_probabilities(safe, tree), tree.names, rule, tree.ranks)
    cols["taxon"] = [t if o and t else None for t, o in zip(d.taxon, ok, strict=True)]
    cols["rank"] = [r if o and r else None for r, o in zip(d.rank, ok, strict=True)]
    cols["probability"] = np.where(ok, d.probability, np.nan)
    cols["auto_validated"] = d.auto_validated & ok
    return cols


def annotate(photos: Photos, model: Classifier, work: Path, *, rule: Rule, top_k: int = 5,
             options: RunOptions | None = None, occurrences: Occurrences | None = None,
             progress: Progress | None = None) -> Annotation:
    """Score (resuming from ``work``), calibrate, combine, decide."""
    options = options or RunOptions()
    scored = run_parts(photos, model, work, options, progress)
    logits, errors = read_parts(work, len(photos), len(model.classes), options.chunk_size)
    probs = softmax(logits.astype(np.float64), model.temperature)
    ok = np.array([not e for e in errors], dtype=bool)
    with np.errstate(divide="ignore"):
        log_p = np.log(np.where(ok[:, None], probs, 1.0))
    obs_ids, obs_probs, counts = combine_observations(log_p, photos.observation_id, ok)
    first = {o: i for i, o in reversed(list(enumerate(photos.observation_id)))}
    rows = np.array([first[o] for o in obs_ids], dtype=np.int64)
    if occurrences is not None:
        index = {c: i for i, c in enumerate(model.classes)}
        known = np.array([t in index for t in occurrences.taxon], dtype=bool)
        cls = np.array([index.get(t, 0) for t in occurrences.taxon], dtype=np.int64)[known]
        args = (cls, occurrences.latitude[known], occurrences.longitude[known],
                len(model.classes), occurrences.radius_km)
        probs = geofence(probs, nearby_classes(photos.latitude, photos.longitude, *args))
        obs_probs = geofence(obs_probs, nearby_classes(photos.latitude[rows],
                                                       photos.longitude[rows], *args))
    per_photo: dict[str, Any] = {
        "photo_id": photos.photo_id, "observation_id": photos.observation_id,
        "path": photos.path, "error": [e or None for e in errors]}
    if any(photos.label):
        per_photo["label"] = [x or None for x in photos.label]
    probs = np.where(ok[:, None], probs, np.nan)
    per_photo |= _columns(probs, model.classes, model, rule, top_k)
    per_obs: dict[str, Any] = {"observation_id": obs_ids, "n_photos": counts}
    per_obs |= _columns(obs_probs, model.classes, model, rule, top_k)
    return Annotation(pa.table(per_photo), pa.table(per_obs), probs, scored)


def observations_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.observations{out.suffix}")


def write_table(table: pa.Table, out: Path) -> Path:
    """CSV or Parquet by the suffix, written to a temporary name and renamed into place."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if out.suffix not in (".csv", ".parquet"):
        raise InputError("the output must end in .csv or .parquet", path=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if out.suffix == ".parquet":
        pq.write_table(table, tmp)
    else:
        pcsv.write_csv(table, tmp)
    os.replace(tmp, out)
    return out


def finish(result: Annotation, out: Path, work: Path) -> tuple[Path, Path]:
    """Write both tables, then drop the part files (a rerun would start afresh)."""
    paths = (write_table(result.photos, out),
             write_table(result.observations, observations_path(out)))
    shutil.rmtree(work, ignore_errors=True)
    return paths

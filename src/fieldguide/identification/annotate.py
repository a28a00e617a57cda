"""``fieldguide identify``: photos in, one row per photo and one per observation out, with the
top-k taxa, calibrated probabilities, the priors' scores, rejection and the walk-up decision.

``annotate`` is the runner (pixels -> outputs, resumable) + :func:`decide_batch` (the
photos and their observations through :func:`posterior`, the shared decision core) + tables;
the service answers one observation through the same :func:`decide_batch`.

Several photos of one observation are combined by the mean of their log-probabilities
(renormalised): a product of experts that treats the photos as independent evidence, so one
sharp close-up outweighs two blurry wide shots, where a mean of probabilities would average
the sharp answer away. Rejected photos are left out of their observation's combination unless
every photo of it is rejected; the observation is rejected only then. Priors apply once per
photo and once per observation, on the combined vision probabilities, never twice.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fieldguide.errors import InputError
from fieldguide.identification.classifier import Classifier, OnnxModel
from fieldguide.identification.decision import ClassTree, Rule
from fieldguide.identification.inputs import Photos
from fieldguide.identification.posterior import Context, Posterior, Prior, posterior, softmax
from fieldguide.identification.protocols import Rejection, Rejector
from fieldguide.identification.provenance import provenance
from fieldguide.identification.runner import Progress, RunOptions, Scorer, run_outputs
from fieldguide.inputs.files import atomic_path


@dataclass
class Annotation:
    photos: pa.Table
    observations: pa.Table
    probs: np.ndarray  # (n, K) per photo as decided on (calibrated, priors), NaN on errors
    scored: int  # photos scored by this call (fewer than all when it resumed)
    posterior: Posterior | None = None  # the per-photo posterior (service, search)


def combine_observations(log_probs: np.ndarray, groups: Sequence[str],
                         ok: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per observation (first-seen order): its id, the softmax of the mean log-probability
    of its usable photos (NaN rows when none) and its number of usable photos."""
    ids = list(dict.fromkeys(groups))
    index = {g: j for j, g in enumerate(ids)}
    g = np.array([index[x] for x in groups], dtype=np.int64)
    sums = np.zeros((len(ids), log_probs.shape[1]))
    np.add.at(sums, g[ok], log_probs[ok])
    counts = np.bincount(g[ok], minlength=len(ids))
    probs = np.full_like(sums, np.nan)
    probs[counts > 0] = softmax(sums[counts > 0] / counts[counts > 0, None])
    return ids, probs, counts


def columns(post: Posterior, classes: Sequence[str], k: int, tree: ClassTree,
            rejection: Rejection | None = None) -> dict[str, Any]:
    """Top-k and decision columns of a posterior, with the threshold each decision met or
    missed, its provenance and (with a restriction) the mass outside; rows that failed stay
    empty."""
    probs = post.probs
    ok = np.isfinite(probs).all(axis=1)
    safe = np.where(ok[:, None], probs, 0.0)
    k = min(k, len(classes))
    top = np.argsort(-safe, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(safe))
    cols: dict[str, Any] = {}
    for j in range(k):
        # a taxon a restriction or the geofence ruled out (probability 0) is not listed
        listed = ok & (safe[rows, top[:, j]] > 0)
        cols[f"taxon_{j + 1}"] = [classes[t] if o else None
                                  for t, o in zip(top[:, j], listed, strict=True)]
        cols[f"prob_{j + 1}"] = np.where(ok, safe[rows, top[:, j]], np.nan)
    if post.prior_score is not None or post.expected_nearby is not None:
        cols["vision_score"] = np.where(ok, post.vision[rows, top[:, 0]], np.nan)
    if post.prior_score is not None:
        cols["prior_score"] = np.where(ok, post.prior_score[rows, top[:, 0]], np.nan)
    if post.expected_nearby is not None:
        cols["expected_nearby"] = [bool(post.expected_nearby[i, top[i, 0]]) if o else None
                                   for i, o in enumerate(ok)]
    d = post.decisions
    cols["taxon"] = [t or None for t in d.taxon]
    cols["rank"] = [r or None for r in d.rank]
    cols["probability"] = d.probability
    cols["auto_validated"] = d.auto_validated
    cols["threshold"] = (d.threshold if d.threshold is not None
                         else np.full(len(ok), np.nan))
    if post.mass_outside is not None:
        cols["mass_outside"] = post.mass_outside
    cols["provenance"] = provenance(d, tree, ok, post.changed_by,
                                    None if rejection is None else rejection.rejected,
                                    None if rejection is None else rejection.reason)
    return cols


def _rejection_columns(rej: Rejection | None, rows: np.ndarray | None = None) -> dict[str, Any]:
    if rej is None:
        return {}
    pick = slice(None) if rows is None else rows
    return {"ood_score": rej.ood_score[pick], "rejected": rej.rejected[pick],
            "reject_reason": [r or None for r in np.asarray(rej.reason, dtype=object)[pick]]}


def _observation_rejection(rej: Rejection, groups: Sequence[str], ids: Sequence[str],
                           ok: np.ndarray) -> Rejection:
    """An observation is rejected when every usable photo of it is; its score is its
    photos' lowest (the most familiar photo speaks for it), its reason the first one's."""
    index = {g: j for j, g in enumerate(ids)}
    score = np.full(len(ids), np.nan)
    kept = np.zeros(len(ids), dtype=bool)
    reason = [""] * len(ids)
    for i, g in enumerate(groups):
        if not ok[i]:
            continue
        j = index[g]
        score[j] = np.fmin(score[j], rej.ood_score[i])
        kept[j] |= not rej.rejected[i]
        if rej.rejected[i] and not reason[j]:
            reason[j] = rej.reason[i]
    usable = np.bincount([index[g] for g, o in zip(groups, ok, strict=True) if o],
                         minlength=len(ids)) > 0
    rejected = usable & ~kept
    return Rejection(score, rejected, [r if x else "" for r, x in zip(reason, rejected,
                                                                        strict=True)])


@dataclass
class Decided:
    """The photos' and their observations' posteriors (observations in first-seen order,
    ``rows`` the first photo of each), the observations' combined log-probabilities and
    context (what they were decided on), their number of photos combined, and the
    rejections (None without a rejector)."""

    photos: Posterior
    observations: Posterior
    ids: list[str]
    rows: np.ndarray
    combined: np.ndarray
    context: Context
    n_photos: np.ndarray
    photo_rejection: Rejection | None
    observation_rejection: Rejection | None


def decide_batch(logits: np.ndarray, ok: np.ndarray, rejection: Rejection | None,
                 groups: Sequence[str], context: Context, *, tree: ClassTree,
                 classes: Sequence[str], temperature: float, priors: Sequence[Prior],
                 rule: Rule) -> Decided:
    """Per photo and per observation: calibrate, combine, apply the priors, decide. Pure
    arrays in, decisions out: ``identify`` and the service both answer through it."""
    rejected = rejection.rejected if rejection else np.zeros(len(logits), dtype=bool)
    logits = logits.astype(np.float64)
    per_photo = posterior(logits, tree, classes=classes, temperature=temperature,
                          priors=priors, rule=rule, context=context, rejected=rejected)
    usable = ok & ~rejected
    vision = softmax(np.where(ok[:, None], logits, 0.0), temperature)
    with np.errstate(divide="ignore"):
        log_p = np.log(vision)
    ids, from_usable, counts = combine_observations(log_p, groups, usable)
    _, from_any, counts_any = combine_observations(log_p, groups, ok)
    with np.errstate(divide="ignore"):
        combined = np.log(np.where((counts > 0)[:, None], from_usable, from_any))
    first = {o: i for i, o in reversed(list(enumerate(groups)))}
    rows = np.array([first[o] for o in ids], dtype=np.int64)
    obs_rej = _observation_rejection(rejection, groups, ids, ok) if rejection else None
    obs_context = context.take(rows)
    per_obs = posterior(combined, tree, classes=classes, temperature=1.0, priors=priors,
                        rule=rule, context=obs_context,
                        rejected=obs_rej.rejected if obs_rej else None)
    return Decided(per_photo, per_obs, ids, rows, combined, obs_context,
                   np.where(counts > 0, counts, counts_any), rejection, obs_rej)


def annotate(photos: Photos, model: Classifier, work: Path, *, rule: Rule, top_k: int = 5,
             options: RunOptions | None = None, priors: Sequence[Prior] = (),
             rejector: Rejector | None = None,
             progress: Progress | None = None, scorer: Scorer = run_outputs) -> Annotation:
    """Score (resuming from ``work``), then :func:`tabulate`; a family's answers name their
    members and carry its trait members' columns (:func:`with_members`)."""
    options = options or RunOptions()
    wanted = tuple(dict.fromkeys(("logits", *(rejector.outputs if rejector else ()),
                                  *getattr(model, "answer_outputs", ()))))
    outputs, errors, scored = scorer(photos, model, work, options, wanted, progress)
    result = tabulate(photos, outputs, errors, model, rule=rule, top_k=top_k, priors=priors,
                      rejector=rejector, scored=scored)
    return with_members(result, model, outputs)


def tabulate(photos: Photos, outputs: dict[str, np.ndarray], errors: Sequence[str],
             model: OnnxModel, *, rule: Rule, top_k: int = 5, priors: Sequence[Prior] = (),
             rejector: Rejector | None = None, scored: int = 0) -> Annotation:
    """A listing's model outputs (from photos or from their embeddings) rejected, with the
    priors applied, combined per observation, decided and put in tables."""
    ok = np.array([not e for e in errors], dtype=bool)
    rej = rejector.reject(outputs, ok) if rejector else None
    got = decide_batch(outputs["logits"], ok, rej, photos.observation_id, photos.context(),
                       tree=model.tree(), classes=model.classes,
                       temperature=model.temperature, priors=priors, rule=rule)
    classes = model.classes
    per_photo: dict[str, Any] = {
        "photo_id": photos.photo_id, "observation_id": photos.observation_id,
        "path": photos.path, "error": [e or None for e in errors]}
    if any(photos.label):
        per_photo["label"] = [x or None for x in photos.label]
    tree = model.tree()
    per_photo |= columns(got.photos, classes, top_k, tree, rej) | _rejection_columns(rej)
    per_obs: dict[str, Any] = {"observation_id": got.ids, "n_photos": got.n_photos}
    per_obs |= columns(got.observations, classes, top_k, tree,
                       got.observation_rejection) | _rejection_columns(
        got.observation_rejection)
    return Annotation(pa.table(per_photo), pa.table(per_obs), got.photos.probs, scored,
                      got.photos)


def with_members(result: Annotation, model: OnnxModel,
                 outputs: dict[str, np.ndarray] | None = None) -> Annotation:
    """A family's answers name the members that made them (column ``members``: its main
    member, the member of the top taxon's group and that group's trait members,
    ``name:version;...``); with the photos' ``embedding`` among ``outputs``, each photo gets
    each trait column (the value and ``<column>_probability``, by the trait member of its
    answer's group; empty where the group has none); for a source with local names, both
    tables get ``local_name``, the source's name of the decided ``taxon``. A single model's
    answers are returned as they are."""
    members_of = getattr(model, "members_of", None)
    if members_of is None:
        return result
    index = {c: i for i, c in enumerate(model.classes)}

    def tops(table: pa.Table) -> list[int]:
        return [index.get(t, -1) if t else -1 for t in table.column("taxon_1").to_pylist()]

    def column(table: pa.Table) -> pa.Array:
        return pa.array([m or None for m in members_of(tops(table))], pa.string())

    photos = result.photos.append_column("members", column(result.photos))
    if outputs is not None and "embedding" in outputs and \
            getattr(model, "trait_columns", None):
        top = [k if not err else -1 for k, err in zip(
            tops(photos), photos.column("error").to_pylist(), strict=True)]
        for name, (values, probs) in model.traits_of(  # type: ignore[attr-defined]
                np.nan_to_num(outputs["embedding"]), top).items():
            photos = photos.append_column(name, pa.array(values, pa.string()))
            photos = photos.append_column(f"{name}_probability", pa.array(probs, pa.float64()))
    observations = result.observations.append_column("members", column(result.observations))
    local = getattr(model, "local_names", None)
    if local:
        def named(table: pa.Table) -> pa.Table:
            return table.append_column("local_name", pa.array(
                [local.get(t) if t else None for t in table.column("taxon").to_pylist()],
                pa.string()))

        photos, observations = named(photos), named(observations)
    return replace(result, photos=photos, observations=observations)


def observations_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.observations{out.suffix}")


def write_table(table: pa.Table, out: Path) -> Path:
    """CSV or Parquet by the suffix, written to a temporary name and renamed into place."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if out.suffix not in (".csv", ".parquet"):
        raise InputError("the output must end in .csv or .parquet", path=out)
    if out.is_dir():
        raise InputError("the output is a folder; give a file name", path=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        if out.suffix == ".parquet":
            pq.write_table(table, tmp)
        else:
            pcsv.write_csv(table, tmp)
    return out


def finish(result: Annotation, out: Path, work: Path) -> tuple[Path, Path]:
    """Write both tables, then drop the part files (a rerun would start afresh)."""
    paths = (write_table(result.photos, out),
             write_table(result.observations, observations_path(out)))
    shutil.rmtree(work, ignore_errors=True)
    return paths

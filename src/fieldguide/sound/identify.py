"""``fieldguide identify MODEL LISTING -o OUT.csv`` for recordings: each recording cut into the
model's windows, every window scored and decided by the same decision core as a photo
(:func:`fieldguide.identification.posterior.posterior`: calibration, restrictions, priors,
roll-up to every rank, the walk-up rule), one row per window with the photos' decision
columns (``threshold``, ``provenance``, ``mass_outside``...); and a per-recording summary
(``OUT.recordings.csv``): each taxon decided in some window, with its best window.

The rule (with the card's thresholds per group), the restrictions (``--taxa``, ``--within``)
and the priors (``--prior``, ``--occurrences``, ``--place-lists``) come from
:func:`fieldguide.identification.identifier.decision_parts`, the function that builds a
photo model's, so every identify option that changes a photo's answer changes a window's.

BirdNET's own head is multi-label (a sigmoid per class): beside the decision columns (the
softmax posterior, as for every model) it gets what BirdNET users expect, every class whose
BirdNET confidence reaches ``min_conf`` in a window (``OUT.detections.csv``; a class
outside ``--taxa`` / ``--within`` is not detected, as with BirdNET Analyzer's species list),
and its per-recording summary lists every species detected, with its best window and
confidence.

A window is one piece of evidence on its own: a recording often holds several species, so
windows are not combined into one answer per recording as an observation's photos are.

Three kinds of model answer through one small interface (:class:`WindowModel`): a mel-
spectrogram probe (an ordinary model folder whose card has a ``sound`` section), a probe on
BirdNET embeddings (a heads-only folder with the same section) and BirdNET itself (MODEL is
the word ``birdnet``). Only the BirdNET kinds import ai-edge-litert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa

from fieldguide.errors import InputError
from fieldguide.identification.annotate import columns, write_table
from fieldguide.identification.decision import ClassTree, Rule, class_tree
from fieldguide.identification.identifier import IdentifyOptions, decision_parts
from fieldguide.identification.inputs import Photos, from_columns, read_table
from fieldguide.identification.posterior import Context, PerClass, Posterior, Prior, posterior
from fieldguide.identification.protocols import Rejection
from fieldguide.models.card import FILE, ModelCard, read_card
from fieldguide.sound.audio import load_recording, windows
from fieldguide.sound.settings import KEY, SoundSettings

if TYPE_CHECKING:
    from fieldguide.sound.birdnet import Detection


class WindowModel(Protocol):
    """What identification needs of a sound model: how recordings are cut, the classes with
    their lineage (and common names, where the model has them), the temperature, whether its
    head is multi-label (a sigmoid per class: BirdNET's own), its card and the card's file
    (None for BirdNET's own head: no group thresholds), and for a batch of windows the
    logits and, where the model carries a fitted rejection, which windows it rejects."""

    settings: SoundSettings
    card: ModelCard | None
    card_path: Path | None
    classes: list[str]
    lineage: dict[str, dict[str, str]]
    common: list[str] | None
    temperature: float
    name: str
    multi_label: bool

    def score(self, windows: np.ndarray) -> tuple[np.ndarray, Rejection | None]: ...


def is_sound_model(model: str | Path) -> bool:
    """Whether ``identify`` should treat MODEL as a sound model: the word ``birdnet``, or a
    model folder whose card has a ``sound`` section (read cheaply: no model is loaded)."""
    from fieldguide.sound.birdnet import is_birdnet

    if is_birdnet(model):
        return True
    path = Path(model) / FILE
    if not path.is_file():
        return False
    try:
        return KEY in read_card(model).extras
    except InputError:
        return False  # the photo path reports what is wrong with the card


def sound_settings(card: ModelCard, folder: Path) -> SoundSettings:
    return SoundSettings.from_dict(card.extras.get(KEY), folder / FILE)


class MelModel:
    """A mel-spectrogram probe: windows -> sonogram images -> the model's ONNX export; with
    the rejection ``sound train`` fitted on the windows' embeddings (the photos'
    :class:`~fieldguide.identification.rejector.FittedRejector`), unless ``reject`` is off."""

    def __init__(self, folder: Path, threads: int = 2, reject: bool = True,
                 onnx: Path | None = None) -> None:
        from fieldguide.identification.classifier import Classifier
        from fieldguide.identification.rejector import FittedRejector, load_rejector

        self.model = Classifier(folder, threads, onnx)
        self.card: ModelCard | None = self.model.card
        self.card_path: Path | None = folder / FILE
        self.settings = sound_settings(self.model.card, folder)
        if self.settings.kind != "mel":
            raise InputError("a mel model folder's sound section must say kind = mel",
                             path=folder / FILE, field=f"extras.{KEY}.kind")
        self.classes = self.model.classes
        self.lineage = self.model.card.lineage
        self.common: list[str] | None = None
        self.temperature = self.model.temperature
        self.name = self.model.name
        self.multi_label = False
        self.rejector: FittedRejector | None = (
            load_rejector(self.model) if reject and "rejection" in self.model.card.extras
            else None)

    def score(self, windows: np.ndarray) -> tuple[np.ndarray, Rejection | None]:
        from fieldguide.sound.mel import images

        pics = images(windows, self.settings.sample_rate, self.settings.mel,
                      self.model.crop.size)
        if self.rejector is None:
            return self.model.logits(pics), None
        out = self.model.run(pics, ["logits", *self.rejector.outputs])
        return out["logits"], self.rejector.reject(out, np.ones(len(windows), dtype=bool))


class BirdnetModel:
    """BirdNET V2.4's own head: 6,522 classes, each species placed in its genus."""

    def __init__(self, threads: int = 2) -> None:
        from fieldguide.sound import birdnet

        self.net = birdnet.Acoustic(threads)
        self.card: ModelCard | None = None
        self.card_path: Path | None = None
        self.settings = SoundSettings("birdnet-probe", birdnet.RATE, birdnet.WINDOW_S,
                                      birdnet.WINDOW_S)
        sci, common = birdnet.labels()
        self.classes = list(sci)
        self.lineage = birdnet.lineage(sci, common)
        self.common: list[str] | None = list(common)
        self.temperature = 1.0
        self.name = birdnet.VERSION
        self.multi_label = True  # its head: one sigmoid per class

    def score(self, windows: np.ndarray) -> tuple[np.ndarray, Rejection | None]:
        return self.net.run(windows)[0], None


class BirdnetProbe:
    """Heads fitted on BirdNET embeddings (``fieldguide sound train --encoder birdnet``)."""

    def __init__(self, folder: Path, threads: int = 2, onnx: Path | None = None) -> None:
        from fieldguide.identification.heads_only import HeadsOnlyModel
        from fieldguide.sound import birdnet

        self.heads = HeadsOnlyModel(folder, threads, onnx)
        self.card: ModelCard | None = self.heads.card
        self.card_path: Path | None = folder / FILE
        self.settings = sound_settings(self.heads.card, folder)
        self.net = birdnet.Acoustic(threads)
        self.classes = self.heads.classes
        self.lineage = self.heads.card.lineage
        self.common: list[str] | None = None
        self.temperature = self.heads.temperature
        self.name = self.heads.name
        self.multi_label = False  # heads fitted here are softmax heads

    def score(self, windows: np.ndarray) -> tuple[np.ndarray, Rejection | None]:
        embedding = self.net.run(windows)[1]
        return self.heads.run(embedding, ["logits"])["logits"], None


def open_sound_model(model: str | Path, threads: int = 2, reject: bool = True,
                     onnx: Path | None = None) -> WindowModel:
    """The model behind MODEL: ``birdnet``, or a sound model folder of either kind (a mel
    probe with its fitted rejection unless ``reject`` is off); ``onnx``: another export of
    the folder's model (``--onnx``; BirdNET's own head has none)."""
    from fieldguide.sound.birdnet import is_birdnet

    if is_birdnet(model):
        if onnx is not None:
            raise InputError("BirdNET's own head has no ONNX export to swap", field="--onnx")
        return BirdnetModel(threads)
    folder = Path(model)
    card = read_card(folder)
    settings = sound_settings(card, folder)
    if settings.kind == "birdnet-probe":
        return BirdnetProbe(folder, threads, onnx)
    return MelModel(folder, threads, reject, onnx)


def read_recordings(source: Path) -> Photos:
    """A listing of recordings: a CSV/Parquet with ``recording_id`` (default: the path),
    ``path`` and optionally ``latitude``, ``longitude``, ``observed_on``, ``label``,
    ``region`` or ``country`` (for place lists); or a
    folder (every recording file under it, ids its relative paths); or a study folder (its
    ``sounds`` table). Read as a photo listing is, ids in ``photo_id``."""
    source = Path(source)
    if source.is_dir():
        from fieldguide.store.study import DB_NAME

        if (source / DB_NAME).exists():
            from fieldguide.identification.inputs import study_media

            return study_media(source, "sounds")
        from fieldguide.sound.audio import is_recording_path

        files = sorted(p for p in source.rglob("*") if p.is_file() and is_recording_path(p)
                       and not any(s.startswith(".") for s in p.relative_to(source).parts))
        rel = [p.relative_to(source).as_posix() for p in files]
        if not rel:
            raise InputError("no recordings in this folder (.wav, .flac, .ogg, .mp3...)",
                             path=source)
        return from_columns({"photo_id": rel, "path": rel}, source, source)
    if not source.is_file():
        raise InputError("input not found", path=source)
    cols = read_table(source)
    if "recording_id" in cols:
        cols["photo_id"] = cols.pop("recording_id")
    return from_columns(cols, source.parent, source)


@dataclass
class WindowScores:
    """Every window of a listing: its recording's row, start and end, the logits (NaN rows
    for a recording that could not be read, one row each), the error and, for a model with a
    fitted rejection, each window's rejection (a failed row: NaN score, not rejected)."""

    row: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    logits: np.ndarray
    errors: list[str]
    rejection: Rejection | None = None


def score_windows(model: WindowModel, recordings: Photos, batch_size: int = 16
                  ) -> WindowScores:
    """Read each recording through the one audio path, cut it, and score its windows."""
    s = model.settings
    k = len(model.classes)
    rows: list[int] = []
    starts: list[float] = []
    ends: list[float] = []
    parts: list[np.ndarray] = []
    errors: list[str] = []
    rejections: list[Rejection | None] = []
    for i, path in enumerate(recordings.path):
        rec = load_recording(path, s.sample_rate)
        if isinstance(rec, str):
            rows.append(i)
            starts.append(np.nan)
            ends.append(np.nan)
            parts.append(np.full((1, k), np.nan, np.float32))
            errors.append(rec)
            rejections.append(None)
            continue
        w = windows(rec.samples, rec.rate, s.window_s, s.hop_s)
        for a in range(0, len(w.samples), batch_size):
            logits, rejection = model.score(w.samples[a:a + batch_size])
            parts.append(logits)
            rejections.append(rejection)
        rows += [i] * len(w.samples)
        starts += w.start_s.tolist()
        ends += w.end_s.tolist()
        errors += [""] * len(w.samples)
    logits = np.concatenate(parts) if parts else np.zeros((0, k), np.float32)
    return WindowScores(np.asarray(rows, np.int64), np.asarray(starts), np.asarray(ends),
                        logits, errors, _joined(rejections, [len(p) for p in parts]))


def _joined(parts: list[Rejection | None], sizes: list[int]) -> Rejection | None:
    """The batches' rejections as one (None when no batch had one); a part without one (a
    failed recording) is a NaN score, not rejected."""
    if all(p is None for p in parts):
        return None
    filled = [p or Rejection(np.full(n, np.nan), np.zeros(n, dtype=bool), [""] * n)
              for p, n in zip(parts, sizes, strict=True)]
    return Rejection(np.concatenate([np.asarray(p.ood_score, np.float64) for p in filled]),
                     np.concatenate([np.asarray(p.rejected, bool) for p in filled]),
                     [r for p in filled for r in p.reason])


@dataclass
class SoundAnnotation:
    """The per-window table, the per-recording summary, the per-observation decision and,
    for a multi-label head (BirdNET's own), the detections."""

    windows: pa.Table
    recordings: pa.Table
    observations: pa.Table
    detections: pa.Table | None = None


def decide_windows(scores: WindowScores, recordings: Photos, model: WindowModel, *,
                   rule: Rule, priors: Sequence[Prior] = (), top_k: int = 5,
                   tree: ClassTree | None = None, detection: Detection | None = None,
                   filters: Sequence[Prior] = ()) -> SoundAnnotation:
    """The windows through the decision core (the restrictions ``filters``, then the
    ``priors``, their recording's place and date as the context), then the per-window and
    per-recording tables; a multi-label model's windows are also read as detections
    (``detection``; BirdNET's defaults when None) of the classes the filters keep."""
    tree = tree or class_tree(model.classes, model.lineage)
    ctx = recordings.context().take(scores.row)
    rej = scores.rejection
    post = posterior(scores.logits.astype(np.float64), tree, classes=model.classes,
                     temperature=model.temperature, priors=[*filters, *priors], rule=rule,
                     context=ctx,
                     rejected=rej.rejected if rej is not None else None)
    ids = [recordings.photo_id[r] for r in scores.row]
    per_window: dict[str, Any] = {
        "recording_id": ids,
        "observation_id": [recordings.observation_id[r] for r in scores.row],
        "path": [recordings.path[r] for r in scores.row],
        "start_s": scores.start_s, "end_s": scores.end_s,
        "error": [e or None for e in scores.errors]}
    if any(recordings.label):
        per_window["label"] = [recordings.label[r] or None for r in scores.row]
    per_window |= columns(post, model.classes, top_k, tree, rej)
    if rej is not None:  # rejected windows are decided, never auto-validated (as photos)
        per_window |= {"ood_score": rej.ood_score, "rejected": rej.rejected,
                       "reject_reason": [r or None for r in rej.reason]}
    table = pa.table(per_window)
    if not model.multi_label:
        summary = summarise(table, recordings)
        return SoundAnnotation(table, summary, per_observation(summary, recordings))
    if detection is None:
        from fieldguide.sound.birdnet import Detection

        detection = Detection()
    hits = detect(scores, detection, kept_classes(filters, model.classes))
    summary = _summary(table, recordings, _detected(hits, table, post, model),
                       ("common_name", "best_confidence"))
    return SoundAnnotation(table, summary, per_observation(summary, recordings),
                           detections_table(hits, scores, ids, model, post.expected_nearby))


@dataclass(frozen=True)
class Detections:
    """Every (window, class) whose confidence reaches ``min_conf``: window and class indices
    and confidences, sorted by recording (listing order), start, then confidence (highest
    first) and class."""

    window: np.ndarray
    cls: np.ndarray
    confidence: np.ndarray


def kept_classes(filters: Sequence[Prior], classes: Sequence[str]) -> np.ndarray:
    """(K,) the classes every restriction keeps (each applied to a uniform row: a class it
    rules out gets probability 0)."""
    keep = np.ones(len(classes), dtype=bool)
    for f in filters:
        keep &= f.apply(np.full((1, len(classes)), 1.0 / len(classes)), Context.unknown(1),
                        classes).probs[0] > 0
    return keep


def detect(scores: WindowScores, detection: Detection, keep: np.ndarray | None = None
           ) -> Detections:
    """A multi-label head's windows read as detections (a failed recording has none) of
    the classes in ``keep`` (all when None)."""
    conf = detection.confidence(scores.logits)
    if keep is not None:
        conf = np.where(keep[None, :], conf, np.nan)
    with np.errstate(invalid="ignore"):
        window, cls = np.nonzero(conf >= detection.min_conf)
    value = conf[window, cls]
    order = np.lexsort((cls, -value, scores.start_s[window], scores.row[window]))
    return Detections(window[order], cls[order], value[order])


def detections_table(hits: Detections, scores: WindowScores, ids: Sequence[str],
                     model: WindowModel, nearby: PerClass | None = None) -> pa.Table:
    """``OUT.detections.csv``: one row per detection, BirdNET's columns (recording_id,
    start_s, end_s, taxon, common_name, confidence), and ``expected_nearby`` where a prior
    tells it."""
    w, c = hits.window, hits.cls
    common = model.common or model.classes
    cols: dict[str, Any] = {
        "recording_id": pa.array([ids[i] for i in w], pa.string()),
        "start_s": pa.array(scores.start_s[w], pa.float64()),
        "end_s": pa.array(scores.end_s[w], pa.float64()),
        "taxon": pa.array([model.classes[j] for j in c], pa.string()),
        "common_name": pa.array([common[j] for j in c], pa.string()),
        "confidence": pa.array(hits.confidence, pa.float64())}
    if nearby is not None:
        cols["expected_nearby"] = pa.array(nearby[w, c], pa.bool_())
    return pa.table(cols)


def _detected(hits: Detections, table: pa.Table, post: Posterior, model: WindowModel
              ) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (recording, species detected): in how many windows, its best window (highest
    confidence; the earliest on a tie), its posterior probability there, and whether the
    decision core auto-validated it in any window."""
    ids = table.column("recording_id").to_pylist()
    decided = [t or "" for t in post.decisions.taxon]
    auto = post.decisions.auto_validated
    common = model.common or model.classes
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for w, c, conf in zip(hits.window.tolist(), hits.cls.tolist(), hits.confidence.tolist(),
                          strict=True):
        taxon = model.classes[c]
        validated = bool(auto[w]) and decided[w] == taxon
        best = found.get((ids[w], taxon))
        if best is None:
            found[(ids[w], taxon)] = {
                "rank": "species" if taxon in model.lineage else None, "windows": 1,
                "common_name": common[c], "best_confidence": conf, "window": w,
                "auto_validated": validated}
            continue
        best["windows"] += 1
        best["auto_validated"] |= validated
        if conf > best["best_confidence"]:
            best.update(best_confidence=conf, window=w)
    starts, ends = table.column("start_s").to_pylist(), table.column("end_s").to_pylist()
    for (_, taxon), v in found.items():
        w = v.pop("window")
        v.update(start_s=starts[w], end_s=ends[w],
                 probability=float(post.probs[w, model.classes.index(taxon)]))
    return found


def summarise(table: pa.Table, recordings: Photos) -> pa.Table:
    """Per recording, each taxon decided in at least one window: at which rank, in how many
    windows, and its best window (highest probability; the earliest on a tie). A recording
    with no decision (or that failed) gets one row with no taxon."""
    cols = {n: table.column(n).to_pylist() for n in
            ("recording_id", "start_s", "end_s", "taxon", "rank", "probability",
             "auto_validated")}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for i, rid in enumerate(cols["recording_id"]):
        taxon = cols["taxon"][i]
        if not taxon:
            continue
        key = (rid, taxon)
        p = float(cols["probability"][i])
        best = found.get(key)
        if best is None:
            found[key] = {"rank": cols["rank"][i], "windows": 1, "probability": p,
                          "start_s": cols["start_s"][i], "end_s": cols["end_s"][i],
                          "auto_validated": bool(cols["auto_validated"][i])}
            continue
        best["windows"] += 1
        best["auto_validated"] |= bool(cols["auto_validated"][i])
        if p > best["probability"]:
            best.update(probability=p, start_s=cols["start_s"][i], end_s=cols["end_s"][i],
                        rank=cols["rank"][i])
    return _summary(table, recordings, found)


def _summary(table: pa.Table, recordings: Photos, found: dict[tuple[str, str], dict[str, Any]],
             extra: Sequence[str] = ()) -> pa.Table:
    """The per-recording table from what was found per (recording, taxon), most probable
    first (most confident first when ``best_confidence`` is among the ``extra`` columns);
    a recording with nothing found (or that failed) gets one row with no taxon."""
    ids, errs = table.column("recording_id").to_pylist(), table.column("error").to_pylist()
    errors = {rid: e for rid, e in zip(ids, errs, strict=True) if e}
    counts: dict[str, int] = {}
    for rid, e in zip(ids, errs, strict=True):
        counts[rid] = counts.get(rid, 0) + (0 if e else 1)
    by = "best_confidence" if "best_confidence" in extra else "probability"
    names = ["recording_id", "windows_scored", "taxon", *extra[:1], "rank", "windows",
             *extra[1:], "best_probability", "best_start_s", "best_end_s", "auto_validated",
             "error"]
    out: dict[str, list[Any]] = {k: [] for k in names}
    per_recording: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for (rid, name), v in found.items():
        per_recording.setdefault(rid, []).append((name, v))
    for rid in dict.fromkeys(recordings.photo_id):
        hits: list[tuple[str | None, dict[str, Any]]] = sorted(
            per_recording.get(rid, []), key=lambda tv: -float(tv[1][by]))
        for taxon, v in hits or [(None, {})]:
            out["recording_id"].append(rid)
            out["windows_scored"].append(counts.get(rid, 0))
            out["taxon"].append(taxon)
            out["rank"].append(v.get("rank"))
            out["windows"].append(v.get("windows", 0))
            for column in extra:
                out[column].append(v.get(column))
            out["best_probability"].append(v.get("probability"))
            out["best_start_s"].append(v.get("start_s"))
            out["best_end_s"].append(v.get("end_s"))
            out["auto_validated"].append(v.get("auto_validated", False))
            out["error"].append(errors.get(rid))
    return pa.table(out)


def per_observation(summary: pa.Table, recordings: Photos) -> pa.Table:
    """One row per observation (what a Darwin Core export takes): the taxon of its most
    confident window over all its recordings; every other taxon heard stays in the
    per-recording summary. An observation with no decision keeps its first error."""
    obs_of = dict(zip(recordings.photo_id, recordings.observation_id, strict=True))
    best: dict[str, dict[str, Any]] = {}
    for row in summary.to_pylist():
        obs = obs_of[row["recording_id"]]
        have = best.get(obs)
        p = row["best_probability"]
        if have is None or (p is not None and (have["probability"] is None
                                               or p > have["probability"])):
            best[obs] = {"observation_id": obs, "taxon": row["taxon"], "rank": row["rank"],
                         "probability": p, "auto_validated": row["auto_validated"],
                         "error": row["error"] or (have or {}).get("error")}
    rows = list(best.values())
    return pa.table({k: [r[k] for r in rows] for k in (
        "observation_id", "taxon", "rank", "probability", "auto_validated", "error")})


def observations_path(out: Path) -> Path:
    """``<stem>.observations<suffix>``: the name ``export dwc`` looks for beside ``out``."""
    return out.with_name(f"{out.stem}.observations{out.suffix}")


def recordings_path(out: Path) -> Path:
    """Where the per-recording summary of ``out`` goes: ``<stem>.recordings<suffix>``."""
    return out.with_name(f"{out.stem}.recordings{out.suffix}")


def detections_path(out: Path) -> Path:
    """Where a multi-label model's detections of ``out`` go: ``<stem>.detections<suffix>``."""
    return out.with_name(f"{out.stem}.detections{out.suffix}")


def sound_priors(prior: Path | None, occurrences: Path | None, radius_km: float,
                 threads: int = 1) -> list[Prior]:
    """The priors in the order they apply: ``--prior birdnet`` (BirdNET's location-and-week
    model) or a place-and-season prior folder, then the geofence."""
    from fieldguide.identification.identifier import load_priors
    from fieldguide.sound.birdnet import is_birdnet

    if prior is not None and is_birdnet(prior):
        from fieldguide.sound.birdnet import OccurrencePrior

        return [OccurrencePrior(threads), *load_priors(None, occurrences, radius_km)]
    return load_priors(prior, occurrences, radius_km)


def identify_recordings(model: str | Path, source: str | Path, output: str | Path,
                        options: IdentifyOptions | None = None, *, top_k: int = 5,
                        batch_size: int = 16, detection: Detection | None = None
                        ) -> tuple[SoundAnnotation, tuple[Path, ...]]:
    """Identify every recording of a listing with ``options``, the photos'
    :class:`~fieldguide.identification.identifier.IdentifyOptions` (the rule, the card's
    group thresholds, ``taxa``, ``within``, the priors and place lists, ``no_reject``,
    ``onnx``, ``threads``); write the per-window table to ``output`` (.csv or .parquet),
    the per-recording summary (``.recordings``), the per-observation decision
    (``.observations``) and, for BirdNET's own head, the detections (``.detections``; read
    with ``detection``) beside it. Options that only photos have (a family's ``source``, the
    Ray engine) are refused in one line. Returns the tables and the paths of the per-window
    table, the summary and the detections where there are some."""
    options = options or IdentifyOptions()
    output = Path(output)
    if output.suffix not in (".csv", ".parquet"):
        raise InputError("the output must end in .csv or .parquet", path=output)
    if options.source is not None:
        raise InputError("--source picks a family's customisation: a sound model is a "
                         "single model", field="--source")
    if options.engine != "local":
        raise InputError("recordings are scored by the local engine only", field="--engine")
    options.rule()  # checked before the model opens
    recordings = read_recordings(Path(source))
    net = open_sound_model(model, options.threads, not options.no_reject, options.onnx)
    parts = decision_parts(options, net.classes, net.lineage, net.card, net.card_path,
                           sound_priors(options.prior, options.occurrences,
                                        options.radius_km, options.threads))
    scores = score_windows(net, recordings, batch_size)
    result = decide_windows(scores, recordings, net, rule=parts.rule, priors=parts.priors,
                            filters=parts.filters, top_k=top_k, detection=detection)
    paths = [write_table(result.windows, output),
             write_table(result.recordings, recordings_path(output))]
    write_table(result.observations, observations_path(output))
    if result.detections is not None:
        paths.append(write_table(result.detections, detections_path(output)))
    return result, tuple(paths)

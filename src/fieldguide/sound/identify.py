"""``fieldguide identify MODEL LISTING -o OUT.csv`` for recordings: each recording cut into the
model's windows, every window scored and decided by the same decision core as a photo
(:func:`fieldguide.identification.posterior.posterior`: calibration, priors, roll-up to every
rank, the walk-up rule), one row per window; and a per-recording summary
(``OUT.recordings.csv``): each taxon decided in some window, with its best window.

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
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from fieldguide.errors import InputError
from fieldguide.identification.annotate import columns, write_table
from fieldguide.identification.decision import ClassTree, Rule, class_tree
from fieldguide.identification.inputs import Photos, from_columns, read_table
from fieldguide.identification.posterior import Context, Prior, posterior
from fieldguide.models.card import FILE, ModelCard, read_card
from fieldguide.sound.audio import load_recording, windows
from fieldguide.sound.settings import KEY, SoundSettings


class WindowModel(Protocol):
    """What identification needs of a sound model: how recordings are cut, the classes with
    their lineage, the temperature, and logits for a batch of windows."""

    settings: SoundSettings
    classes: list[str]
    lineage: dict[str, dict[str, str]]
    temperature: float
    name: str

    def logits(self, windows: np.ndarray) -> np.ndarray: ...


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
    """A mel-spectrogram probe: windows -> sonogram images -> the model's ONNX export."""

    def __init__(self, folder: Path, threads: int = 2) -> None:
        from fieldguide.identification.classifier import Classifier

        self.model = Classifier(folder, threads)
        self.settings = sound_settings(self.model.card, folder)
        if self.settings.kind != "mel":
            raise InputError("a mel model folder's sound section must say kind = mel",
                             path=folder / FILE, field=f"extras.{KEY}.kind")
        self.classes = self.model.classes
        self.lineage = self.model.card.lineage
        self.temperature = self.model.temperature
        self.name = self.model.name

    def logits(self, windows: np.ndarray) -> np.ndarray:
        from fieldguide.sound.mel import images

        pics = images(windows, self.settings.sample_rate, self.settings.mel,
                      self.model.crop.size)
        return self.model.logits(pics)


class BirdnetModel:
    """BirdNET V2.4's own head: 6,522 classes, each species placed in its genus."""

    def __init__(self, threads: int = 2) -> None:
        from fieldguide.sound import birdnet

        self.net = birdnet.Acoustic(threads)
        self.settings = SoundSettings("birdnet-probe", birdnet.RATE, birdnet.WINDOW_S,
                                      birdnet.WINDOW_S)
        sci, common = birdnet.labels()
        self.classes = list(sci)
        self.lineage = birdnet.lineage(sci, common)
        self.temperature = 1.0
        self.name = birdnet.VERSION

    def logits(self, windows: np.ndarray) -> np.ndarray:
        return self.net.run(windows)[0]


class BirdnetProbe:
    """Heads fitted on BirdNET embeddings (``fieldguide sound train --encoder birdnet``)."""

    def __init__(self, folder: Path, threads: int = 2) -> None:
        from fieldguide.identification.heads_only import HeadsOnlyModel
        from fieldguide.sound import birdnet

        self.heads = HeadsOnlyModel(folder, threads)
        self.settings = sound_settings(self.heads.card, folder)
        self.net = birdnet.Acoustic(threads)
        self.classes = self.heads.classes
        self.lineage = self.heads.card.lineage
        self.temperature = self.heads.temperature
        self.name = self.heads.name

    def logits(self, windows: np.ndarray) -> np.ndarray:
        embedding = self.net.run(windows)[1]
        return self.heads.run(embedding, ["logits"])["logits"]


def open_sound_model(model: str | Path, threads: int = 2) -> WindowModel:
    """The model behind MODEL: ``birdnet``, or a sound model folder of either kind."""
    from fieldguide.sound.birdnet import is_birdnet

    if is_birdnet(model):
        return BirdnetModel(threads)
    folder = Path(model)
    card = read_card(folder)
    settings = sound_settings(card, folder)
    if settings.kind == "birdnet-probe":
        return BirdnetProbe(folder, threads)
    return MelModel(folder, threads)


def read_recordings(source: Path) -> Photos:
    """A listing of recordings: a CSV/Parquet with ``recording_id`` (default: the path),
    ``path`` and optionally ``latitude``, ``longitude``, ``observed_on``, ``label``; or a
    folder (every recording file under it, ids its relative paths); or a study folder (its
    ``sounds`` table). Read as a photo listing is, ids in ``photo_id``."""
    source = Path(source)
    if source.is_dir():
        from fieldguide.store.study import DB_NAME

        if (source / DB_NAME).exists():
            from fieldguide.sound.study import study_listing

            return study_listing(source)
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
    for a recording that could not be read, one row each) and the error."""

    row: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    logits: np.ndarray
    errors: list[str]


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
    for i, path in enumerate(recordings.path):
        rec = load_recording(path, s.sample_rate)
        if isinstance(rec, str):
            rows.append(i)
            starts.append(np.nan)
            ends.append(np.nan)
            parts.append(np.full((1, k), np.nan, np.float32))
            errors.append(rec)
            continue
        w = windows(rec.samples, rec.rate, s.window_s, s.hop_s)
        for a in range(0, len(w.samples), batch_size):
            parts.append(model.logits(w.samples[a:a + batch_size]))
        rows += [i] * len(w.samples)
        starts += w.start_s.tolist()
        ends += w.end_s.tolist()
        errors += [""] * len(w.samples)
    logits = np.concatenate(parts) if parts else np.zeros((0, k), np.float32)
    return WindowScores(np.asarray(rows, np.int64), np.asarray(starts), np.asarray(ends),
                        logits, errors)


@dataclass
class SoundAnnotation:
    """The per-window table, the per-recording summary and the per-observation decision."""

    windows: pa.Table
    recordings: pa.Table
    observations: pa.Table


def decide_windows(scores: WindowScores, recordings: Photos, model: WindowModel, *,
                   rule: Rule, priors: Sequence[Prior] = (), top_k: int = 5,
                   tree: ClassTree | None = None) -> SoundAnnotation:
    """The windows through the decision core (their recording's place and date as the
    priors' context), then the per-window and per-recording tables."""
    tree = tree or class_tree(model.classes, model.lineage)
    ctx = recordings.context().take(scores.row)
    post = posterior(scores.logits.astype(np.float64), tree, classes=model.classes,
                     temperature=model.temperature, priors=priors, rule=rule,
                     context=Context(ctx.latitude, ctx.longitude, ctx.day_of_year))
    ids = [recordings.photo_id[r] for r in scores.row]
    per_window: dict[str, Any] = {
        "recording_id": ids,
        "observation_id": [recordings.observation_id[r] for r in scores.row],
        "path": [recordings.path[r] for r in scores.row],
        "start_s": scores.start_s, "end_s": scores.end_s,
        "error": [e or None for e in scores.errors]}
    if any(recordings.label):
        per_window["label"] = [recordings.label[r] or None for r in scores.row]
    per_window |= columns(post, model.classes, top_k, tree)
    table = pa.table(per_window)
    summary = summarise(table, recordings)
    return SoundAnnotation(table, summary, per_observation(summary, recordings))


def summarise(table: pa.Table, recordings: Photos) -> pa.Table:
    """Per recording, each taxon decided in at least one window: at which rank, in how many
    windows, and its best window (highest probability; the earliest on a tie). A recording
    with no decision (or that failed) gets one row with no taxon."""
    cols = {n: table.column(n).to_pylist() for n in
            ("recording_id", "start_s", "end_s", "error", "taxon", "rank", "probability",
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
    errors = {rid: e for rid, e in zip(cols["recording_id"], cols["error"], strict=True) if e}
    counts: dict[str, int] = {}
    for rid, e in zip(cols["recording_id"], cols["error"], strict=True):
        counts[rid] = counts.get(rid, 0) + (0 if e else 1)
    out: dict[str, list[Any]] = {k: [] for k in (
        "recording_id", "windows_scored", "taxon", "rank", "windows", "best_probability",
        "best_start_s", "best_end_s", "auto_validated", "error")}
    for rid in dict.fromkeys(recordings.photo_id):
        hits: list[tuple[str | None, dict[str, Any] | None]] = sorted(
            ((t, v) for (r, t), v in found.items() if r == rid),
            key=lambda tv: -float(tv[1]["probability"] if tv[1] else 0.0))
        for taxon, v in hits or [(None, None)]:
            out["recording_id"].append(rid)
            out["windows_scored"].append(counts.get(rid, 0))
            out["taxon"].append(taxon)
            out["rank"].append(v["rank"] if v else None)
            out["windows"].append(v["windows"] if v else 0)
            out["best_probability"].append(v["probability"] if v else None)
            out["best_start_s"].append(v["start_s"] if v else None)
            out["best_end_s"].append(v["end_s"] if v else None)
            out["auto_validated"].append(v["auto_validated"] if v else False)
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


def identify_recordings(model: str | Path, source: str | Path, output: str | Path, *,
                        rule: Rule | None = None, prior: Path | None = None,
                        occurrences: Path | None = None, radius_km: float = 50.0,
                        top_k: int = 5, threads: int = 2, batch_size: int = 16
                        ) -> tuple[SoundAnnotation, tuple[Path, Path]]:
    """Identify every recording of a listing; write the per-window table to ``output`` (.csv
    or .parquet), the per-recording summary (``.recordings``) and the per-observation decision
    (``.observations``) beside it. Returns the tables and the first two paths."""
    output = Path(output)
    if output.suffix not in (".csv", ".parquet"):
        raise InputError("the output must end in .csv or .parquet", path=output)
    recordings = read_recordings(Path(source))
    net = open_sound_model(model, threads)
    priors = sound_priors(prior, occurrences, radius_km)
    scores = score_windows(net, recordings, batch_size)
    result = decide_windows(scores, recordings, net, rule=rule or Rule(), priors=priors,
                            top_k=top_k)
    paths = (write_table(result.windows, output),
             write_table(result.recordings, recordings_path(output)))
    write_table(result.observations, observations_path(output))
    return result, paths

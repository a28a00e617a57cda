"""Sound models from a folder of labelled recordings (``<label>/<recording>.wav``): a linear
probe, the same fit as for photos (:func:`fieldguide.training.probe.fit_linear_heads`), on

- ``encoder="lite0"`` (or any registered image backbone): each window's log-mel sonogram
  through the backbone's encoder graph; the artefact is an ordinary model folder
  (``model.json`` + one ``model.onnx`` joining encoder and heads, as a probe on ONNX encoders
  writes it), with a ``sound`` section in the card;
- ``encoder="birdnet"``: BirdNET V2.4's 1024-wide embedding of each 3-s window (the extra);
  the artefact is heads-only (``model.onnx`` takes the embedding), and the card names
  BirdNET and its licence.

Every window of a recording takes the recording's label. One recording in five (per label,
when a label has five or more) is held out, whole, to report a top-1 on recordings the probe
never heard; the heads are then fitted on the rest.

A mel probe also gets the photos' fitted rejection of unknowns
(:func:`fieldguide.identification.rejector_fit.fit_rejector`: labels held out in turn as
pseudo-unknowns, scores on the logits and the window embeddings, the threshold rejecting 5%
of the held-out recordings' windows), stored as for photos (``rejection.npz``, the card's
``extras["rejection"]``), so ``identify`` flags windows unlike any label it was trained on.
Photo quality rules do not apply to sonograms and are left out. It needs held-out
recordings; without them (or with ``reject=False``) the model has no rejection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.inputs.files import atomic_path, existing_folder
from fieldguide.models.card import HeadSpec, ModelCard, Preprocessing, write_card
from fieldguide.sound.audio import is_recording_path, load_recording, windows
from fieldguide.sound.settings import KEY, SoundSettings

WEIGHTS = "imagenet"


@dataclass(frozen=True)
class LabelledRecordings:
    paths: list[Path]
    labels: list[str]
    classes: list[str]


def labelled_recordings(folder: str | Path) -> LabelledRecordings:
    """Recording files one level under ``folder``'s label folders (hidden names skipped)."""
    root = existing_folder(folder, what="folder of labelled recordings")
    paths, labels = [], []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()
                            and not p.name.startswith(".")):
        for f in sorted(label_dir.rglob("*")):
            if f.is_file() and is_recording_path(f) and not f.name.startswith("."):
                paths.append(f)
                labels.append(label_dir.name)
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise InputError("needs recordings of at least two labels (<label>/<file>.wav)",
                         path=root)
    return LabelledRecordings(paths, labels, classes)


def held_out(labels: list[str], every: int = 5) -> np.ndarray:
    """Mask of recordings held out: every ``every``-th of a label with at least that many."""
    seen: dict[str, int] = {}
    out = np.zeros(len(labels), dtype=bool)
    total = {lab: labels.count(lab) for lab in set(labels)}
    for i, lab in enumerate(labels):
        seen[lab] = seen.get(lab, 0) + 1
        out[i] = total[lab] >= every and seen[lab] % every == 0
    return out


def _windows_of(data: LabelledRecordings, settings: SoundSettings
                ) -> tuple[list[np.ndarray], list[int], list[str]]:
    """Each readable recording's windows, its index, and the reasons others were skipped."""
    got, index, skipped = [], [], []
    for i, path in enumerate(data.paths):
        rec = load_recording(path, settings.sample_rate)
        if isinstance(rec, str):
            skipped.append(f"{path}: {rec}")
            continue
        got.append(windows(rec.samples, rec.rate, settings.window_s, settings.hop_s).samples)
        index.append(i)
    return got, index, skipped


def train_sound_probe(folder: str | Path, out: str | Path, *, encoder: str = "lite0",
                      settings: SoundSettings | None = None, l2: float = 1e-3,
                      max_iter: int = 500, threads: int = 2, cache: Path | None = None,
                      name: str | None = None, batch_size: int = 16,
                      reject: bool = True) -> ModelCard:
    """Train a probe on the recordings under ``folder`` and write the model folder ``out``
    (see module doc); returns its card. ``cache`` keeps encoder graphs between runs
    (default: ``out``'s parent ``.encoders``)."""
    from fieldguide.sound.birdnet import NAME as BIRDNET

    out = Path(out)
    data = labelled_recordings(folder)
    on_birdnet = encoder == BIRDNET
    if on_birdnet:
        from fieldguide.sound import birdnet

        settings = SoundSettings("birdnet-probe", birdnet.RATE, birdnet.WINDOW_S,
                                 birdnet.WINDOW_S)
    settings = settings or SoundSettings()
    per_rec, index, skipped = _windows_of(data, settings)
    if not per_rec:
        raise InputError("no recording could be read: " + "; ".join(skipped[:3]),
                         path=Path(folder))
    embed, card_base = (_birdnet_encoder(threads) if on_birdnet else
                        _mel_encoder(encoder, settings, cache or out.parent / ".encoders",
                                     threads))
    feats = [np.concatenate([embed(w[a:a + batch_size]) for a in range(0, len(w), batch_size)])
             for w in per_rec]
    y_rec = np.array([data.classes.index(data.labels[i]) for i in index], dtype=np.int64)
    hold = held_out([data.labels[i] for i in index])
    x = np.concatenate(feats).astype(np.float32)
    y = np.concatenate([np.full(len(f), c) for f, c in zip(feats, y_rec, strict=True)])
    held = np.concatenate([np.full(len(f), h) for f, h in zip(feats, hold, strict=True)])
    return _fit_and_write(x, y, held, data, settings, card_base, out, l2=l2,
                          max_iter=max_iter, skipped=skipped, name=name or out.name,
                          recordings=len(index), reject=reject and not on_birdnet)


def _mel_encoder(backbone: str, settings: SoundSettings, cache: Path, threads: int
                 ) -> tuple[Any, dict[str, Any]]:
    """(windows -> features, what the card needs) for an image backbone on sonograms."""
    from fieldguide.models.encoders import Embedder, branch, encoder_id
    from fieldguide.models.registry import backbone_info, canonical
    from fieldguide.sound.mel import images

    name = canonical(backbone)
    info = backbone_info(name)
    prep = info.preprocessing
    graph = branch(name, WEIGHTS, prep, cache)
    embedder = Embedder(graph, prep, threads)

    def embed(w: np.ndarray) -> np.ndarray:
        pics = images(w, settings.sample_rate, settings.mel, prep.size)
        return embedder.run(pics, [embedder.output])[0]

    base = {"backbone": name, "preprocessing": prep, "graph": graph,
            "weights": f"{WEIGHTS}:{encoder_id(name, WEIGHTS)}",
            "encoders": [{"backbone": name, "weights": encoder_id(name, WEIGHTS),
                          "preprocessing": prep.to_dict(), "licence": info.licence}]}
    return embed, base


def _birdnet_encoder(threads: int) -> tuple[Any, dict[str, Any]]:
    from fieldguide.inputs.files import file_sha256
    from fieldguide.sound import birdnet

    net = birdnet.Acoustic(threads)

    def embed(w: np.ndarray) -> np.ndarray:
        return net.run(w)[1]

    source = {"backbone": "birdnet-v2.4", "weights": file_sha256(birdnet.shipped(birdnet.MODEL))}
    return embed, {"backbone": "birdnet-v2.4", "preprocessing": Preprocessing(),
                   "graph": None, "weights": source["weights"], "encoders": [],
                   "embeddings_from": source, "birdnet": birdnet.card_notes()}


def _fit_and_write(x: np.ndarray, y: np.ndarray, held: np.ndarray, data: LabelledRecordings,
                   settings: SoundSettings, base: dict[str, Any], out: Path, *, l2: float,
                   max_iter: int, skipped: list[str], name: str, recordings: int,
                   reject: bool = False) -> ModelCard:
    import onnx

    from fieldguide.models.encoders import compose, heads_only
    from fieldguide.training.probe import fit_linear_heads, head_logits

    head = HeadSpec("species", "species", "taxon", tuple(data.classes))
    fit_rows = ~held if (~held).any() else np.ones(len(y), dtype=bool)
    fit = fit_linear_heads(x[fit_rows], y[fit_rows, None], [head], {}, l2=l2,
                           max_iter=max_iter)
    metrics: dict[str, Any] = {
        "recordings": recordings, "windows": len(y), "skipped_recordings": len(skipped),
        "train_top1": float((head_logits(fit, x[fit_rows], "species").argmax(1)
                             == y[fit_rows]).mean())}
    if held.any():
        metrics["held_out_windows"] = int(held.sum())
        metrics["held_out_top1"] = float((head_logits(fit, x[held], "species").argmax(1)
                                          == y[held]).mean())
    extras: dict[str, Any] = {KEY: settings.to_dict()}
    if "birdnet" in base:
        extras["birdnet"] = base["birdnet"]
    card = ModelCard(
        backbone=base["backbone"], heads=[head], preprocessing=base["preprocessing"],
        name=name, version=datetime.now(UTC).strftime("%Y%m%d.%H%M%S"),
        weights=base["weights"],
        train_counts={"species": np.bincount(y[fit_rows], minlength=len(data.classes))
                      .tolist()},
        metrics=metrics, extras=extras, encoders=base["encoders"],
        embeddings_from=base.get("embeddings_from"))
    model = (compose([base["graph"]], card, fit.heads) if base["graph"] is not None
             else heads_only(card, fit.heads, x.shape[1]))
    card = replace(card, outputs=[o.name for o in model.graph.output], onnx="model.onnx")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "model.onnx") as tmp:
        onnx.save(model, str(tmp))
    write_card(card, out)
    if reject and held.any():
        _fit_rejection(out, head_logits(fit, x, "species"), x, y, fit_rows, held)
    if skipped:
        (out / "skipped.txt").write_text("\n".join(skipped) + "\n", encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return card


def _fit_rejection(out: Path, logits: np.ndarray, x: np.ndarray, y: np.ndarray,
                   fit_rows: np.ndarray, held: np.ndarray) -> None:
    """The photos' rejection fitted on the windows (see module doc), saved beside the card."""
    from fieldguide.identification.rejector import save_rejector
    from fieldguide.identification.rejector_fit import fit_rejector

    def outputs(rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"logits": logits[rows], "embedding": x[rows]}

    rejector, report = fit_rejector(outputs(fit_rows), y[fit_rows], outputs(held), y[held])
    rejector.quality = False  # photo quality rules (blur, exposure) mean nothing on sonograms
    save_rejector(out, rejector, {**report, "windows": "held-out recordings' windows"})

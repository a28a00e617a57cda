"""Linear probes on ONNX encoders: a backbone that exists only as ONNX (``dinov2-s14``) or the
concatenated embeddings of several (``backbone = ["lite2", "dinov2-s14"]``).

No PyTorch is needed for an ONNX-only encoder (a timm encoder in a concatenation is exported
from PyTorch once, then cached). Each encoder's embeddings are kept in its own store
(``fieldguide.embeddings``, through ``fieldguide.training.embeddings``); the heads are the
same fit as every probe (``fieldguide.training.probe``); the artefact is
``model.json`` + one ``model.onnx`` joining the branches and the heads, checked against the
stored embeddings before it is written, so
identification scores exactly what the probe was fitted on.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fieldguide.embeddings.store import EncoderIdentity
from fieldguide.inputs.files import atomic_path
from fieldguide.models.card import ModelCard, Preprocessing, log_membership, write_card
from fieldguide.models.encoders import Embedder, branch, compose, encoder_id
from fieldguide.models.registry import backbone_info, canonical
from fieldguide.training.embeddings import cached_embeddings
from fieldguide.training.imbalance import imbalance_terms
from fieldguide.training.manifest import load_data
from fieldguide.training.probe import ProbeFit, fit_linear_heads, head_logits, stream_options
from fieldguide.training.result import TrainResult, write_history
from fieldguide.training.spec import TrainSpec, backbones, run_folder

if TYPE_CHECKING:
    import onnx

WEIGHTS = "imagenet"  # the shipped weights (ImageNet for the Lite nets, DINOv2's for dinov2-s14)


def train_on_encoders(spec: TrainSpec, out: Path | None = None) -> TrainResult:
    """Embed (through the stores), fit the heads, write and check the artefact."""
    folder = run_folder(spec, out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    data = load_data(spec)
    names = [canonical(n) for n in backbones(spec)]
    prep = backbone_info(names[0]).preprocessing
    if spec.model.image_size:
        prep = replace(prep, size=spec.model.image_size)
    cache = spec.resolve(spec.probe.cache) if spec.probe.cache else folder.parent / ".embeddings"
    graphs, parts, ok = embed_with_encoders(names, prep, data.paths, cache, spec.run.threads)
    feats = np.concatenate(parts, axis=1)
    train = data.select("train")
    train = train[ok[train]]
    weights, adjust = imbalance_terms(spec, data)
    species = next((h for h in data.heads if h.kind == "species"), None)
    membership = {h.name: log_membership(species.classes, data.taxonomy, h.column, h.classes)
                  for h in data.heads if h.kind == "rank" and species is not None}
    val = data.select(spec.data.val_split)
    val = val[ok[val]]
    fit = fit_linear_heads(feats[train], data.targets[train], data.heads, membership,
                           l2=spec.probe.l2, max_iter=spec.probe.max_iter,
                           class_weights=weights, adjust=adjust,
                           val=(feats[val], data.targets[val]) if len(val) else None,
                           optimiser=spec.probe.optimiser, options=stream_options(spec))
    primary = data.heads[0].name
    scores: dict[str, float] = {}
    for split in (spec.data.val_split, spec.data.test_split):
        rows = data.select(split)
        rows = rows[ok[rows]]
        y = data.targets[rows, 0]
        if len(rows) and primary in fit.heads and (y >= 0).any():
            top = head_logits(fit, feats[rows], primary).argmax(1)
            scores[f"{split}_top1"] = float((top[y >= 0] == y[y >= 0]).mean())
    skipped = int((~ok).sum())
    card = ModelCard(
        backbone="+".join(names), heads=data.heads, preprocessing=prep, lineage=data.taxonomy,
        name=spec.name, version=datetime.now(UTC).strftime("%Y%m%d.%H%M%S"),
        weights=f"{WEIGHTS}:" + "+".join(encoder_id(n, WEIGHTS) for n in names),
        train_counts={h.name: data.counts(i).tolist() for i, h in enumerate(data.heads)},
        spec=spec.to_dict(),
        encoders=[{"backbone": n, "weights": encoder_id(n, WEIGHTS),
                   "preprocessing": backbone_info(n).preprocessing.to_dict(),
                   "width": int(p.shape[1]), "licence": backbone_info(n).licence}
                  for n, p in zip(names, parts, strict=True)])
    history = [{"epoch": 0, **scores, "skipped": skipped}]
    card.metrics = {**{f"probe_{k}": v for k, v in scores.items()}, **scores,
                    "skipped_images": skipped, "probe_iterations": fit.iterations,
                    "history": history}
    model = compose(graphs, card, fit.heads)
    card.outputs = [o.name for o in model.graph.output]
    card.onnx = "model.onnx"
    model_dir = folder / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    check = train[:8]
    _check(model, card, [data.paths[i] for i in check], feats[check], fit, primary)
    import onnx

    with atomic_path(model_dir / "model.onnx") as tmp:
        onnx.save(model, str(tmp))
    write_card(card, model_dir)
    write_history(folder, history)
    metrics = {k: v for k, v in card.metrics.items() if k != "history"}
    (folder / "summary.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return TrainResult(folder, model_dir, history, skipped, metrics)


def embed_with_encoders(names: list[str], prep: Preprocessing, paths: list[Path], cache: Path,
                        threads: int = 2) -> tuple[list[onnx.ModelProto], list[np.ndarray],
                                                   np.ndarray]:
    """Each encoder's branch graph and (stored) features of the photos, fed from the crop
    ``prep``, and the mask of photos every encoder could read."""
    graphs = [branch(n, WEIGHTS, prep, cache / "encoders") for n in names]
    parts, ok = [], np.ones(len(paths), dtype=bool)
    for name, graph in zip(names, graphs, strict=True):
        embedder = Embedder(graph, prep, threads)
        identity = EncoderIdentity.of(name, encoder_id(name, WEIGHTS),
                                      {"input": prep.to_dict()})
        feats, ok_one = cached_embeddings(paths, cache, identity, embedder.embed_paths)
        parts.append(feats)
        ok &= ok_one
    return graphs, parts, ok


def _check(model: onnx.ModelProto, card: ModelCard, paths: list[Path], feats: np.ndarray,
           fit: ProbeFit, primary: str, atol: float = 1e-3) -> None:
    """The joined graph must give the stored embeddings and the fitted logits."""
    embedder = Embedder(model, card.preprocessing)
    with ThreadPoolExecutor(2) as pool:
        crops = embedder.crops(paths, pool)
    good = [i for i, c in enumerate(crops) if not isinstance(c, str)]
    if not good:
        return
    names = ["embedding", *([primary] if primary in fit.heads else [])]
    got = embedder.run(np.stack([crops[i] for i in good]), names)
    want = [feats[good], *([head_logits(fit, feats[good], primary)] if len(names) > 1 else [])]
    for name, g, w in zip(names, got, want, strict=True):
        diff = float(np.abs(g - w).max())
        if diff > atol * max(float(np.abs(w).max()), 1.0):
            raise RuntimeError(f"model.onnx gives other {name} values than the probe was "
                               f"fitted on ({diff:.2e}); delete the embedding stores "
                               "(probe.cache) and train again")

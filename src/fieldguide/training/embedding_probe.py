"""Heads-only models: the linear probe fitted on vectors computed before, not on photos.

A spec whose ``[data]`` names ``embeddings`` (an embeddings Parquet file in the import format
of ``docs/embeddings.md``, or a store folder with its labels) skips the encoder: the heads are
the same L-BFGS fit as every probe (``fieldguide.training.probe``), and the artefact is
``model.json`` + a ``model.onnx`` that maps an input ``embedding`` (n x d float32) to the same
outputs as a photo model's (the heads, then ``embedding``), built by the same head-building
code (``fieldguide.models.encoders.heads_only``). The card's ``embeddings_from`` records the
store's encoder identity, or ``"external"``, so nothing mistakes it for a photo model.
No PyTorch is needed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fieldguide.embeddings.external import LabelledEmbeddings, read_embeddings
from fieldguide.models.card import HeadSpec, ModelCard, Preprocessing, log_membership, write_card
from fieldguide.models.encoders import heads_only
from fieldguide.training.imbalance import imbalance_terms
from fieldguide.training.manifest import labelled
from fieldguide.training.probe import ProbeFit, fit_linear_heads, head_logits
from fieldguide.training.result import TrainResult, write_history
from fieldguide.training.spec import TrainSpec, run_folder

if TYPE_CHECKING:
    import onnx


def train_on_embeddings(spec: TrainSpec, out: Path | None = None) -> TrainResult:
    """Read and check the vectors, fit the heads, write and check the heads-only artefact."""
    source = spec.resolve(spec.data.embeddings)
    found = read_embeddings(source)
    d = spec.data
    data = labelled(found.columns, found.path, None, d.label, label_kind=d.label_kind,
                    ranks=d.ranks, traits=d.traits, max_per_class=d.max_per_class)
    row = {pid: i for i, pid in enumerate(found.photo_id)}
    feats = found.vectors[[row[p] for p in data.photo_ids]]
    folder = run_folder(spec, out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    train = data.select("train")
    weights, adjust = imbalance_terms(spec, data)
    species = next((h for h in data.heads if h.kind == "species"), None)
    membership = {h.name: log_membership(species.classes, data.taxonomy, h.column, h.classes)
                  for h in data.heads if h.kind == "rank" and species is not None}
    fit = fit_linear_heads(feats[train], data.targets[train], data.heads, membership,
                           l2=spec.probe.l2, max_iter=spec.probe.max_iter,
                           class_weights=weights, adjust=adjust)
    primary = data.heads[0].name
    scores: dict[str, float] = {}
    for split in (d.val_split, d.test_split):
        rows = data.select(split)
        y = data.targets[rows, 0]
        if len(rows) and primary in fit.heads and (y >= 0).any():
            top = head_logits(fit, feats[rows], primary).argmax(1)
            scores[f"{split}_top1"] = float((top[y >= 0] == y[y >= 0]).mean())
    card = _card(spec, found, data.heads, data.taxonomy,
                 {h.name: data.counts(i).tolist() for i, h in enumerate(data.heads)})
    history = [{"epoch": 0, **scores, "skipped": found.skipped}]
    card.metrics = {**{f"probe_{k}": v for k, v in scores.items()}, **scores,
                    "skipped_images": found.skipped, "probe_iterations": fit.iterations,
                    "history": history}
    model = heads_only(card, fit.heads, found.width)
    card.outputs = [o.name for o in model.graph.output]
    card.onnx = "model.onnx"
    _check(model, feats[train[:64]], fit, primary)
    model_dir = folder / "model"
    _save(model, model_dir / "model.onnx")
    write_card(card, model_dir)
    write_history(folder, history)
    metrics = {k: v for k, v in card.metrics.items() if k != "history"}
    (folder / "summary.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return TrainResult(folder, model_dir, history, found.skipped, metrics)


def _card(spec: TrainSpec, found: LabelledEmbeddings, heads: list[HeadSpec],
          lineage: dict[str, dict[str, str]], counts: dict[str, list[int]]) -> ModelCard:
    encoder = found.encoder
    backbone = encoder["backbone"] if isinstance(encoder, dict) else "external"
    weights = encoder["weights"] if isinstance(encoder, dict) else "external"
    return ModelCard(backbone=backbone, heads=heads,
                     preprocessing=Preprocessing(), lineage=lineage, name=spec.name,
                     version=datetime.now(UTC).strftime("%Y%m%d.%H%M%S"), weights=weights,
                     train_counts=counts, spec=spec.to_dict(), embeddings_from=encoder)


def _save(model: onnx.ModelProto, path: Path) -> None:
    import onnx

    from fieldguide.inputs.files import atomic_path

    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def _check(model: onnx.ModelProto, feats: np.ndarray, fit: ProbeFit, primary: str,
           atol: float = 1e-4) -> None:
    """The graph must give the fitted logits on the training vectors."""
    import onnxruntime as ort

    if not len(feats) or primary not in fit.heads:
        return
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    got = session.run([primary], {"embedding": np.ascontiguousarray(feats, np.float32)})[0]
    want = head_logits(fit, feats, primary)
    diff = float(np.abs(got - want).max())
    if diff > atol * max(float(np.abs(want).max()), 1.0):
        raise RuntimeError(f"model.onnx gives other logits than the probe fitted ({diff:.2e})")

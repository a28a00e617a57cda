"""Run a model over photos or over one split of a manifest (what ``fieldguide evaluate`` and
``compare`` score), or a heads-only model over one split of an embeddings file or store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from fieldguide.errors import InputError
from fieldguide.identification.classifier import Classifier
from fieldguide.inputs.tables import read_columns
from fieldguide.models.artefact import ModelCard, load_model
from fieldguide.models.heads import FieldguideNet
from fieldguide.training.data import Normaliser, PhotoDataset, collate, eval_transform
from fieldguide.training.manifest import local_paths, text_values


@torch.no_grad()
def predict(model: FieldguideNet, paths: list[Path], prep: dict[str, Any], *,
            batch_size: int = 64, workers: int = 1, device: torch.device | None = None,
            channels_last: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Softmax probabilities per head (rows of undecodable photos stay 0) and a decoded mask."""
    device = device or torch.device("cpu")
    ds = PhotoDataset(paths, np.arange(len(paths))[:, None], eval_transform(prep))
    loader = DataLoader(ds, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    model.eval().to(device)
    probs: dict[str, np.ndarray] = {h.name: np.zeros((len(paths), len(h.classes)), np.float32)
                                    for h in model.specs}
    ok = np.zeros(len(paths), dtype=bool)
    norm = Normaliser(prep, device, channels_last)
    for batch in loader:
        if batch.images.numel() == 0:
            continue
        rows = batch.indices.numpy()
        out = model(norm(batch.images))
        for name, logits in out.items():
            probs[name][rows] = torch.softmax(logits.float(), dim=1).cpu().numpy()
        ok[rows] = True
    return probs, ok


def predict_onnx(clf: Classifier, paths: list[Path]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """:func:`predict` through a photo model's ONNX export, or a family of models, by
    identification's own runner (its decoding, batching and softmax)."""
    from concurrent.futures import ThreadPoolExecutor

    from fieldguide.family.model import FamilyModel
    from fieldguide.identification.posterior import softmax
    from fieldguide.identification.runner import RunOptions, score_chunk

    # a family gives one answer, log P(taxon), as ``logits``
    heads = {"logits": clf.card.primary.name} if isinstance(clf, FamilyModel) else \
        {h.name: h.name for h in clf.card.heads}
    with ThreadPoolExecutor(2) as pool:
        out = score_chunk([str(p) for p in paths], clf, RunOptions(), list(heads), pool)
    ok = out["errors"] == ""
    probs = {name: np.where(ok[:, None], softmax(np.nan_to_num(out[given])), 0.0)
             .astype(np.float32) for given, name in heads.items()}
    return probs, ok


@dataclass
class SplitPredictions:
    """One head's probabilities on a split, ready for ``fieldguide.evaluation.evaluate``."""

    probs: np.ndarray
    y_true: np.ndarray
    class_names: list[str]
    train_counts: np.ndarray | None
    photo_ids: list[str]
    skipped: int
    card: ModelCard


def predict_embeddings(model_dir: Path, source: Path, split: str = "test",
                       head: str | None = None) -> SplitPredictions:
    """A heads-only model on one split of an embeddings Parquet file or labelled store,
    scored by identification's heads-only model (its ONNX graph) and softmax; labels the
    model does not know are refused by name, rows without a label left out."""
    from fieldguide.embeddings.external import read_embeddings
    from fieldguide.identification.heads_only import HeadsOnlyModel
    from fieldguide.identification.posterior import softmax

    model = HeadsOnlyModel(model_dir)
    card = model.card
    spec = card.head(head) if head else card.primary
    data = read_embeddings(source, model.width)
    if spec.column not in data.columns:
        raise InputError(f"missing column '{spec.column}'", path=data.path, field=spec.column)
    rows = data.rows(split)
    labels = text_values([data.columns[spec.column][i] for i in rows])
    index = {c: i for i, c in enumerate(spec.classes)}
    keep = [(r, y) for r, y in zip(rows, labels, strict=True) if y is not None]
    unknown = sorted({y for _, y in keep if y not in index})
    if unknown:
        raise InputError(f"class {unknown[0]!r} is not one the model knows", path=data.path,
                         field=spec.column)
    if not keep:
        raise InputError(f"no labelled row in split {split!r}", path=data.path, field="split")
    picked = np.array([r for r, _ in keep], dtype=np.int64)
    logits = model.run(data.vectors[picked], [spec.name])[spec.name]
    counts = card.train_counts.get(spec.name)
    return SplitPredictions(softmax(logits).astype(np.float32),
                            np.array([index[str(y)] for _, y in keep]), list(spec.classes),
                            None if counts is None else np.asarray(counts),
                            [data.photo_id[r] for r, _ in keep], data.skipped, card)


def predict_split(model_dir: Path, manifest: Path, split: str = "test", head: str | None = None,
                  root: Path | None = None, workers: int = 1,
                  source: str | None = None) -> SplitPredictions:
    """The model on a manifest's split; labels the model does not know are refused by name.
    A probe on ONNX encoders (no PyTorch weights) and a family of models (``source``: whose
    customisation answers) are scored by ONNX Runtime; a heads-only model scores an
    embeddings file or store (:func:`predict_embeddings`) and refuses a manifest of photos,
    as a photo model refuses embeddings, in one line."""
    from fieldguide.embeddings.external import is_embeddings
    from fieldguide.family.card import is_family
    from fieldguide.identification.classifier import TAKES_EMBEDDINGS, TAKES_PHOTOS
    from fieldguide.identification.model import open_photo_model
    from fieldguide.models.card import read_card

    family = is_family(model_dir)
    if source is not None and not family:
        raise InputError("--source picks a family's customisation: this is a single model "
                         "(no family.json)", path=model_dir, field="--source")
    heads_only = not family and read_card(Path(model_dir)).heads_only
    if is_embeddings(manifest):
        if not heads_only:
            raise InputError(TAKES_PHOTOS, path=manifest, field="embedding")
        return predict_embeddings(Path(model_dir), Path(manifest), split, head)
    if heads_only:
        raise InputError(TAKES_EMBEDDINGS, path=model_dir, field="embeddings_from")
    clf: Classifier | None = None
    model: FieldguideNet | None = None
    if family or not (Path(model_dir) / "model.safetensors").is_file():
        clf = open_photo_model(model_dir, source=source)
        card = clf.card
    else:
        model, card = load_model(model_dir)
    spec = card.head(head) if head else card.primary
    cols = read_columns(manifest, what="manifest")
    for needed in ("path", "split", spec.column):
        if needed not in cols:
            raise InputError(f"missing column '{needed}'", path=manifest, field=needed)
    base = root if root is not None else Path(manifest).parent
    index = {c: i for i, c in enumerate(spec.classes)}
    rows = [i for i, s in enumerate(cols["split"]) if str(s) == split]
    labels = text_values([cols[spec.column][i] for i in rows])
    keep = [(r, y) for r, y in zip(rows, labels, strict=True) if y is not None]
    unknown = sorted({y for _, y in keep if y not in index})
    if unknown:
        raise InputError(f"class {unknown[0]!r} is not one the model knows", path=manifest,
                         field=spec.column)
    if not keep:
        raise InputError(f"no labelled photo in split {split!r}", path=manifest, field="split")
    paths = local_paths({"path": [cols["path"][r] for r, _ in keep]}, base, Path(manifest))
    if model is None:
        assert clf is not None
        probs, ok = predict_onnx(clf, paths)
    else:
        probs, ok = predict(model, paths, card.preprocessing.to_dict(), workers=workers)
    ids = [str(cols.get("photo_id", cols["path"])[r]) for r, _ in keep]
    y = np.array([index[str(lab)] for _, lab in keep])
    counts = card.train_counts.get(spec.name)
    return SplitPredictions(probs[spec.name][ok], y[ok], list(spec.classes),
                            None if counts is None else np.asarray(counts),
                            [i for i, k in zip(ids, ok, strict=True) if k], int((~ok).sum()),
                            card)

"""Frozen-backbone embeddings, computed once and cached on disk.

The cache key is backbone + weights identity + preprocessing; inside it each photo is keyed by
its path, mtime and size, so a monthly update embeds only the new or changed photos. The cache
itself is torch-free: PyTorch models and ONNX encoders (``fieldguide.models.encoders``) fill
it through the same :func:`cached_embeddings`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fieldguide.inputs.files import atomic_path

if TYPE_CHECKING:
    import torch

    from fieldguide.models.heads import FieldguideNet

#: Photos -> (n, d) features and a mask of those that decoded.
Compute = Callable[[list[Path]], tuple[np.ndarray, np.ndarray]]


def cache_key(backbone: str, weights: str, prep: dict[str, Any]) -> str:
    text = json.dumps({"backbone": backbone, "weights": weights, "prep": prep}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def _photo_key(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path.resolve()}|missing"
    return f"{path.resolve()}|{st.st_mtime_ns}|{st.st_size}"


def _embed(model: FieldguideNet, paths: list[Path], prep: dict[str, Any], batch_size: int,
           workers: int, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    import torch
    from torch.utils.data import DataLoader

    from fieldguide.training.data import Normaliser, PhotoDataset, collate, eval_transform

    ds = PhotoDataset(paths, np.arange(len(paths))[:, None], eval_transform(prep))
    loader = DataLoader(ds, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    feats = np.zeros((len(paths), 0), dtype=np.float32)
    ok = np.zeros(len(paths), dtype=bool)
    model.eval().to(device)
    norm = Normaliser(prep, device)
    for batch in loader:
        if batch.images.numel() == 0:
            continue
        with torch.no_grad():
            f = model.features(norm(batch.images)).float().cpu().numpy()
        if feats.shape[1] == 0:
            feats = np.zeros((len(paths), f.shape[1]), dtype=np.float32)
        rows = batch.indices.numpy()
        feats[rows], ok[rows] = f, True
    return feats, ok


def embed_photos(model: FieldguideNet, paths: list[Path], prep: dict[str, Any], cache_dir: Path,
                 key: str, *, batch_size: int = 32, workers: int = 1,
                 device: torch.device | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A PyTorch model's features through the cache."""
    def compute(todo: list[Path]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        return _embed(model, todo, prep, batch_size, workers, device or torch.device("cpu"))

    return cached_embeddings(paths, cache_dir, key, compute)


def cached_embeddings(paths: list[Path], cache_dir: Path, key: str, compute: Compute
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, d) and a mask of photos that decoded; only photos the cache lacks are
    computed, and unreadable ones are not cached."""
    file = Path(cache_dir) / f"{key}.npz"
    ids = np.array([_photo_key(p) for p in paths])
    known: dict[str, int] = {}
    old_ids, old_feats = np.array([], dtype=str), np.zeros((0, 0), dtype=np.float32)
    if file.is_file():
        with np.load(file) as z:
            old_ids, old_feats = z["ids"], z["feats"]
        known = {k: i for i, k in enumerate(old_ids.tolist())}
    missing = [i for i, k in enumerate(ids.tolist()) if k not in known]
    new_feats, new_ok = compute([paths[i] for i in missing]) if missing else (
        np.zeros((0, 0), np.float32), np.zeros(0, bool))
    width = old_feats.shape[1] if len(old_ids) else new_feats.shape[1]
    feats = np.zeros((len(paths), width), dtype=np.float32)
    ok = np.zeros(len(paths), dtype=bool)
    for i, k in enumerate(ids.tolist()):
        if k in known:
            feats[i], ok[i] = old_feats[known[k]], True
    rows = np.asarray(missing, dtype=np.int64)
    add = rows[new_ok] if len(rows) else rows
    if len(add):
        feats[add], ok[add] = new_feats[new_ok], True
        all_ids = np.concatenate([old_ids, ids[add]])
        all_feats = np.concatenate([old_feats.reshape(-1, width), feats[add]])
        with atomic_path(file) as tmp, tmp.open("wb") as fh:
            np.savez(fh, ids=all_ids, feats=all_feats)
    return feats, ok

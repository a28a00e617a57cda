"""Frozen-backbone embeddings for the linear probe, through the embedding store.

Each encoder's vectors live in one store (``fieldguide.embeddings``) under the probe's cache
folder, named by the encoder's identity (backbone + weights identity + preprocessing); inside
it each photo is keyed by its path, mtime and size, so a monthly update embeds only the new or
changed photos, and a run killed while embedding redoes at most one shard. The store is
torch-free: PyTorch models (here) and ONNX encoders (``fieldguide.models.encoders``) fill it
through its one writer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fieldguide.embeddings.store import EncoderIdentity, errors_from_mask, extend, photo_key

if TYPE_CHECKING:
    import torch

    from fieldguide.models.heads import FieldguideNet

#: Photos -> (n, d) features and a mask of those that decoded.
Compute = Callable[[list[Path]], tuple[np.ndarray, np.ndarray]]


def cached_embeddings(paths: Sequence[Path], cache_dir: Path, identity: EncoderIdentity,
                      compute: Compute) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, d) of the photos and the mask of those that have one: the store
    ``cache_dir/<identity digest>`` embeds only the photos it lacks (a photo that cannot be
    decoded is recorded as failed and not tried again until its file changes)."""
    def store_compute(todo: list[str]) -> tuple[np.ndarray, list[str]]:
        feats, ok = compute([Path(p) for p in todo])
        return feats, errors_from_mask(ok)

    store = extend(Path(cache_dir) / identity.digest, identity, list(paths), store_compute)
    return store.gather([photo_key(p) for p in paths])


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
                 identity: EncoderIdentity, *, batch_size: int = 32, workers: int = 1,
                 device: torch.device | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A PyTorch model's features through its store."""
    def compute(todo: list[Path]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        return _embed(model, todo, prep, batch_size, workers, device or torch.device("cpu"))

    return cached_embeddings(paths, cache_dir, identity, compute)

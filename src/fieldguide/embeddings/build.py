"""Filling a store from a model folder's ``embedding`` output: the model opened as
identification opens it (:func:`fieldguide.identification.model.open_photo_model`), the
runner's scorer (:func:`fieldguide.identification.runner.score_chunk`) run here, or the Ray
identify engine's chunk loop (:meth:`fieldguide.identification.ray_engine.RayEngine.chunks`).
Either way the chunks go through the store's one writer, so a local and a Ray build give the
same store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fieldguide.embeddings.store import (
    EmbeddingStore,
    EncoderIdentity,
    Engine,
    Progress,
    extend,
    photo_key,
)
from fieldguide.errors import InputError

if TYPE_CHECKING:
    from fieldguide.identification.classifier import Classifier
    from fieldguide.identification.inputs import Photos
    from fieldguide.identification.ray_engine import RayEngine
    from fieldguide.identification.runner import RunOptions

OUTPUT = "embedding"
ENGINES = ("local", "ray")


def model_identity(model: Classifier, options: RunOptions) -> EncoderIdentity:
    """The encoder a model folder's ``embedding`` output is: its backbone and weights, the
    crop (and whether JPEGs decode at reduced scale, which changes the pixels) and the sha256
    of the ONNX file that runs."""
    from fieldguide.inputs.files import file_sha256

    if OUTPUT not in model.outputs:
        raise InputError("the ONNX export has no 'embedding' output (re-export the model "
                         "with this fieldguide)", path=model.path)
    card = model.card
    prep = {**card.preprocessing.to_dict(), "draft_decode": options.draft}
    return EncoderIdentity.of(card.backbone, card.weights, prep, file_sha256(model.path))


def photo_keys(photos: Photos) -> list[str]:
    """Each photo's store key: its file's, else its URL, else its id (a photo with neither
    file nor URL fails, and is listed as failed under that key)."""
    return [photo_key(p) if p else (u or f"photo_id:{i}")
            for p, u, i in zip(photos.path, photos.url, photos.photo_id, strict=True)]


def ray_engine(model: Classifier, options: RunOptions, pool: RayEngine,
               ticks: Callable[[int], None] | None = None) -> Engine:
    """Chunks scored by a pool of Ray actors (:meth:`RayEngine.chunks`, the loop the Ray
    identify engine runs), handed back chunk by chunk as their last photo arrives; ``ticks``
    hears how many photos each batch brought."""
    def run(chunks: list[list[str]]) -> Iterator[tuple[int, np.ndarray, list[str]]]:
        todo = [(c, 0, paths) for c, paths in enumerate(chunks)]
        for c, table in pool.chunks(model, options, (OUTPUT,), todo, ticks):
            yield (c, *_arrays(table))

    return run


def _arrays(table: Any) -> tuple[np.ndarray, list[str]]:
    """One chunk's rows, in photo order -> (vectors, errors)."""
    col = table.column(OUTPUT).combine_chunks()
    vectors = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return (vectors.reshape(len(col), col.type.list_size),
            [str(e) for e in table.column("error").to_pylist()])


def embed_photos(model: Classifier, photos: Photos, out: Path, options: RunOptions, *,
                 ray: RayEngine | None = None, chunk_size: int | None = None,
                 progress: Progress | None = None,
                 ticks: Callable[[int], None] | None = None) -> EmbeddingStore:
    """Extend the store ``out`` (created when new) with the ``embedding`` output of the photos
    it lacks, scored here or by ``ray``'s actor pool, ``chunk_size`` photos a shard (default:
    the store's); what ``fieldguide embed`` and ``index build``/``add`` run. ``progress``
    hears (photos done, photos to do) as each shard is written, ``ticks`` the photos of each
    batch scored."""
    from fieldguide.identification.runner import score_chunk

    identity = model_identity(model, options)
    keys = photo_keys(photos)
    if ray is not None:
        return extend(out, identity, photos.path, engine=ray_engine(model, options, ray, ticks),
                      keys=keys, chunk_size=chunk_size, progress=progress)
    with ThreadPoolExecutor(options.decode_workers) as pool:
        def compute(paths: list[str]) -> tuple[np.ndarray, list[str]]:
            got = score_chunk(paths, model, options, (OUTPUT,), pool, ticks)
            return got[OUTPUT], [str(e) for e in got["errors"]]

        return extend(out, identity, photos.path, compute, keys=keys, chunk_size=chunk_size,
                      progress=progress)


def build_store(model: Path, photos: Photos, out: Path, *, engine: str = "local",
                chunk_size: int | None = None, batch_size: int = 32, threads: int = 2,
                actors: int = 2, address: str | None = None, draft: bool = True,
                progress: Progress | None = None) -> EmbeddingStore:
    """Build or extend the store ``out`` with the photos' vectors from ``model``'s
    ``embedding`` output (``engine`` local or ray; ``address`` None starts a local Ray of
    ``actors * threads`` CPUs); photos already in it are skipped."""
    from fieldguide.identification.model import open_photo_model
    from fieldguide.identification.ray_engine import RayEngine, require_ray
    from fieldguide.identification.runner import RunOptions

    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r} (local or ray)", field="--engine")
    ray = None
    if engine == "ray":
        require_ray()  # before the store is touched
        ray = RayEngine(address, actors, threads)
    clf = open_photo_model(model, threads)
    options = RunOptions(batch_size, chunk_size or 512, threads, draft=draft)
    return embed_photos(clf, photos, out, options, ray=ray, chunk_size=chunk_size,
                        progress=progress)

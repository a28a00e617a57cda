"""Filling a store from a model folder's ``embedding`` output: the identification runner's
scorer (:func:`fieldguide.identification.runner.score_chunk`) run here, or the same scorer in
Ray actors (:class:`fieldguide.identification.ray_engine.ChunkScorer`). Either way the chunks
go through the store's one writer, so a local and a Ray build give the same store.
"""

from __future__ import annotations

from collections.abc import Iterator
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


def ray_engine(model: Classifier, options: RunOptions, *, actors: int = 2, threads: int = 1,
               address: str | None = None) -> Engine:
    """Chunks scored by a pool of Ray actors (each :class:`ChunkScorer`: its own ONNX session),
    handed back chunk by chunk as their last photo arrives. ``address`` None starts a local
    Ray of ``actors * threads`` CPUs."""
    from fieldguide.identification.ray_engine import ChunkScorer, require_ray

    ray = require_ray()

    def run(chunks: list[list[str]]) -> Iterator[tuple[int, np.ndarray, list[str]]]:
        if not chunks:
            return
        import pyarrow as pa
        import pyarrow.compute as pc

        if not ray.is_initialized():
            ray.init(address=address, num_cpus=actors * threads if address is None else None,
                     include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        blocks = [pa.table({"chunk": pa.array([c] * len(p), pa.int64()),
                            "row": pa.array(range(len(p)), pa.int64()),
                            "path": pa.array(p, pa.string())}) for c, p in enumerate(chunks)]
        scored = ray.data.from_arrow(blocks).map_batches(
            ChunkScorer, batch_format="pyarrow", batch_size=options.batch_size,
            compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=threads,
            fn_constructor_kwargs={"folder": str(model.folder), "onnx": str(model.path),
                                   "threads": threads, "options": options,
                                   "outputs": (OUTPUT,)})
        pending: dict[int, list[Any]] = {}
        for batch in scored.iter_batches(batch_format="pyarrow", batch_size=None):
            for c in np.unique(batch.column("chunk").to_numpy()):
                got = pending.setdefault(int(c), [])
                got.append(batch.filter(pc.equal(batch.column("chunk"), c)))
                if sum(t.num_rows for t in got) == len(chunks[int(c)]):
                    yield (int(c), *_arrays(pa.concat_tables(pending.pop(int(c)))))
        if pending:
            raise InputError(f"Ray returned {len(pending)} chunks incomplete; run again to "
                             "embed them")

    return run


def _arrays(table: Any) -> tuple[np.ndarray, list[str]]:
    """One chunk's actor rows, in photo order -> (vectors, errors)."""
    table = table.sort_by("row")
    col = table.column(OUTPUT).combine_chunks()
    vectors = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return (vectors.reshape(len(col), col.type.list_size),
            [str(e) for e in table.column("error").to_pylist()])


def build_store(model: Path, photos: Photos, out: Path, *, engine: str = "local",
                chunk_size: int | None = None, batch_size: int = 32, threads: int = 2,
                actors: int = 2, address: str | None = None, draft: bool = True,
                progress: Progress | None = None) -> EmbeddingStore:
    """Build or extend the store ``out`` with the photos' vectors from ``model``'s
    ``embedding`` output (``engine`` local or ray); photos already in it are skipped."""
    from fieldguide.identification.classifier import Classifier
    from fieldguide.identification.runner import RunOptions, score_chunk

    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r} (local or ray)", field="--engine")
    clf = Classifier(model, threads)
    options = RunOptions(batch_size, chunk_size or 512, threads, draft=draft)
    identity = model_identity(clf, options)
    keys = photo_keys(photos)
    if engine == "ray":
        run = ray_engine(clf, options, actors=actors, threads=threads, address=address)
        return extend(out, identity, photos.path, engine=run, keys=keys, chunk_size=chunk_size,
                      progress=progress)
    with ThreadPoolExecutor(options.decode_workers) as pool:
        def compute(paths: list[str]) -> tuple[np.ndarray, list[str]]:
            got = score_chunk(paths, clf, options, (OUTPUT,), pool)
            return got[OUTPUT], [str(e) for e in got["errors"]]

        return extend(out, identity, photos.path, compute, keys=keys, chunk_size=chunk_size,
                      progress=progress)

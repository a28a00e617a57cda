"""The Ray engine: the listing's photo rows become a Ray Dataset, an actor pool scores them
(one ONNX session per actor, its own intra-op threads) and the driver files the results in
Parquet shards keyed by input chunk, so a job restarted after a crash scores only the chunks
with no whole shard (the local runner's done-set, with shards for part files).

Only the scoring step changes: an actor runs the runner's :func:`score_chunk` on its batch
(decoding through :mod:`fieldguide.models.pixels`, scoring through :class:`Classifier`), and
:class:`RayEngine` has the signature of :func:`run_outputs`, so ``annotate`` applies the same
posterior, rejection and tables to what it returns.

The driver writes the shards, not the actors: results come back through Ray's object store,
so the workers need no shared file system, and a task Ray retries after an actor died cannot
leave a half-written or duplicated shard (a chunk's shard is written once, from complete rows,
to a temporary name renamed into place). Ray is imported lazily: it is an optional extra.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fieldguide.errors import InputError
from fieldguide.identification.classifier import Classifier
from fieldguide.identification.inputs import Photos
from fieldguide.identification.model import open_photo_model
from fieldguide.identification.runner import (
    Progress,
    RunOptions,
    Scorer,
    chunks_of,
    claim,
    fingerprint,
    gather,
    run_outputs,
    score_chunk,
)
from fieldguide.inputs.files import atomic_path

INSTALL = "the Ray engine needs Ray: pip install 'fieldguide[ray]'"


def require_ray() -> Any:
    """The ``ray`` module, or an error that says how to install it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise InputError(INSTALL, field="--engine") from None
    return ray


class ChunkScorer:
    """One Ray actor: its own ONNX session (opened like the driver's ``Identifier`` opens its
    model) and decoding threads, built once, then a batch of photo rows in, one result row per
    photo out (outputs as fixed-width float32 lists)."""

    def __init__(self, folder: str, onnx: str | None, threads: int, options: RunOptions,
                 outputs: Sequence[str], source: str | None = None) -> None:
        self.model = open_photo_model(folder, threads, onnx, source=source)
        self.options, self.outputs = options, tuple(outputs)
        self.pool = ThreadPoolExecutor(options.decode_workers)

    def __call__(self, batch: pa.Table) -> pa.Table:
        paths = [str(p) for p in batch.column("path").to_pylist()]
        got = score_chunk(paths, self.model, self.options, self.outputs, self.pool)
        columns: dict[str, pa.Array] = {"chunk": batch.column("chunk").combine_chunks(),
                                        "row": batch.column("row").combine_chunks(),
                                        "error": pa.array(got["errors"].tolist(), pa.string())}
        for name in self.outputs:
            columns[name] = _fixed(got[name])
        return pa.table(columns)


def _fixed(values: np.ndarray) -> pa.FixedSizeListArray:
    width = values.shape[1]
    flat = pa.array(np.ascontiguousarray(values, dtype=np.float32).ravel())
    return pa.FixedSizeListArray.from_arrays(flat, width)


def shard_path(work: Path, chunk: int) -> Path:
    return work / f"shard-{chunk:06d}.parquet"


def write_shard(work: Path, chunk: int, rows: pa.Table) -> None:
    import pyarrow.parquet as pq

    with atomic_path(shard_path(work, chunk)) as tmp:
        pq.write_table(rows.sort_by("row"), tmp)


def read_shard(work: Path, chunk: int, lo: int, hi: int,
               outputs: Sequence[str]) -> dict[str, np.ndarray] | None:
    """A shard's arrays (input order), or None when it is missing or not the whole chunk
    ``lo:hi`` (a damaged file, one dropped in by hand): such a chunk is scored again."""
    import pyarrow.parquet as pq

    path = shard_path(work, chunk)
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path, columns=["row", "error", *outputs])
        arrays: dict[str, np.ndarray] = {}
        for name in outputs:
            col = table.column(name).combine_chunks()
            if not pa.types.is_fixed_size_list(col.type):
                return None
            width = col.type.list_size
            arrays[name] = col.flatten().to_numpy(zero_copy_only=False).astype(
                np.float32).reshape(len(col), width)
        rows = table.column("row").to_numpy()
        errors = table.column("error").to_pylist()
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None
    if not np.array_equal(rows, np.arange(lo, hi)) or any(e is None for e in errors):
        return None
    arrays["errors"] = np.array(errors, dtype=str)
    return arrays


def scorer_for(engine: str, address: str | None = None, actors: int = 2,
               threads: int = 1) -> Scorer:
    """The scoring step by name: the local runner, or Ray's actor pool (checked to be
    installed)."""
    if engine == "local":
        return run_outputs
    if engine != "ray":
        raise InputError(f"unknown engine {engine!r} (local or ray)", field="--engine")
    require_ray()
    return RayEngine(address, actors, threads)


@dataclass(frozen=True)
class RayEngine:
    """Scores like :func:`run_outputs` (same arguments, same result) on a Ray cluster.

    ``address``: None starts a local Ray, "auto" joins the cluster this machine belongs to,
    "ray://host:port" a remote one (Ray Client). ``actors`` ONNX sessions run at once, each
    with ``threads`` intra-op threads (and as many Ray CPUs reserved). ``actor`` is the class
    each actor runs (a test swaps in one that crashes)."""

    address: str | None = None
    actors: int = 2
    threads: int = 1
    actor: type[ChunkScorer] = ChunkScorer

    def __post_init__(self) -> None:
        for name in ("actors", "threads"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1", field=f"--{name}")

    def start(self) -> Any:
        """Ray, connected (an already started Ray is used as it is); a local Ray started
        here gets ``actors * threads`` CPUs, what the actor pool reserves."""
        ray = require_ray()
        if not ray.is_initialized():
            ray.init(address=self.address,
                     num_cpus=self.actors * self.threads if self.address is None else None,
                     include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        return ray

    def __call__(self, photos: Photos, model: Classifier, work: Path, options: RunOptions,
                 outputs: Sequence[str] = ("logits",),
                 progress: Progress | None = None) -> tuple[dict[str, np.ndarray], list[str],
                                                            int]:
        outputs = tuple(dict.fromkeys(outputs))
        claim(work, fingerprint(photos, model, options, outputs) + "|ray-shards")
        todo = [(c, lo, photos.path[lo:hi])
                for c, lo, hi in chunks_of(len(photos), options.chunk_size)
                if read_shard(work, c, lo, hi, outputs) is None]
        done = len(photos) - sum(len(paths) for _, _, paths in todo)
        start, count = time.perf_counter(), 0

        def tick(k: int) -> None:
            nonlocal count
            count += k
            if progress is not None:
                progress(done + count, count / max(time.perf_counter() - start, 1e-9))

        for c, rows in self.chunks(model, options, outputs, todo, tick, work):
            write_shard(work, c, rows)
        return (*self.gather(work, len(photos), options.chunk_size, outputs), count)

    def chunks(self, model: Classifier, options: RunOptions, outputs: Sequence[str],
               todo: Sequence[tuple[int, int, Sequence[str]]],
               progress: Callable[[int], None] | None = None, where: Path | None = None
               ) -> Iterator[tuple[int, pa.Table]]:
        """Score chunks of photos on the actor pool: ``todo`` holds (chunk number, row
        number of its first photo, its photo paths); each chunk is handed back whole, as its
        last photo arrives (in any order), as one table of rows ``row``, ``error`` and each
        output, in photo order. ``progress`` hears how many photos each batch brought;
        ``where`` is the folder an incomplete run names. The
        identify engine files the chunks as shards; the store's builder as store shards."""
        if not todo:
            return
        ray = self.start()
        blocks = [pa.table({"chunk": pa.array([c] * len(paths), pa.int64()),
                            "row": pa.array(range(lo, lo + len(paths)), pa.int64()),
                            "path": pa.array(list(paths), pa.string())})
                  for c, lo, paths in todo]
        size = {c: len(paths) for c, _, paths in todo}
        from fieldguide.family.model import FamilyModel

        # a family's actors open the folder as the driver did: its encoder and the members
        # of the same source
        source = model.source if isinstance(model, FamilyModel) else None
        family = isinstance(model, FamilyModel)
        scored = ray.data.from_arrow(blocks).map_batches(
            self.actor, batch_format="pyarrow", batch_size=options.batch_size,
            compute=ray.data.ActorPoolStrategy(size=self.actors), num_cpus=self.threads,
            fn_constructor_kwargs={"folder": str(model.folder),
                                   "onnx": None if family else str(model.path),
                                   "threads": self.threads, "options": options,
                                   "outputs": tuple(outputs),
                                   "source": source})
        import pyarrow.compute as pc

        pending: dict[int, list[pa.Table]] = {}
        for batch in scored.iter_batches(batch_format="pyarrow", batch_size=None):
            for c in np.unique(batch.column("chunk").to_numpy()):
                got = pending.setdefault(int(c), [])
                got.append(batch.filter(pc.equal(batch.column("chunk"), c)))
                if sum(t.num_rows for t in got) == size[int(c)]:
                    yield int(c), pa.concat_tables(pending.pop(int(c))).sort_by("row")
            if progress is not None:
                progress(batch.num_rows)
        if pending:
            raise InputError(f"Ray returned {len(pending)} chunks incomplete; run again to "
                             "score them", path=where)

    @staticmethod
    def gather(work: Path, n: int, chunk_size: int,
               outputs: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
        """Every shard concatenated in input order (each must be there and whole)."""
        return gather(work, n, chunk_size, outputs,
                      lambda w, c, lo, hi: read_shard(w, c, lo, hi, outputs), "shard")

"""The batch runner: photos decoded on a thread pool while ONNX Runtime scores the previous
batch, every output (logits, embeddings, ...) written in numbered part files so a killed run
resumes where it stopped.

A chunk's part file is written to a temporary name and renamed into place (atomic), so a
part exists whole or not at all: the existing parts are the done-set, and a restart scores
only the missing chunks. ``run.json`` pins the listing, the model and the outputs the parts
belong to. Part files are read with ``allow_pickle=False``; one that is unreadable or of the
wrong shape (a disk error, a file dropped in by hand) is scored again, never trusted.

The local engine runs chunks here one after another; the Ray engine runs the same
:func:`score_chunk` in its actors.
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.classifier import Classifier
from fieldguide.identification.inputs import Photos
from fieldguide.identification.quality import QUALITY, QUALITY_COLUMNS, photo_quality, shortest_side
from fieldguide.inputs.files import atomic_path, write_text_atomic
from fieldguide.models.pixels import load_crop

Progress = Callable[[int, float], None]  # (photos done so far, images/s of this run)
Crops = list[np.ndarray | str]


@dataclass(frozen=True)
class RunOptions:
    batch_size: int = 32
    chunk_size: int = 512
    decode_workers: int = 2
    prefetch_batches: int = 2
    draft: bool = True

    def __post_init__(self) -> None:
        for name in ("batch_size", "chunk_size", "decode_workers"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1", field=name)


def decoded_batches(paths: Sequence[str], model: Classifier, options: RunOptions,
                    pool: ThreadPoolExecutor) -> Iterator[Crops]:
    """Batches of crops (or error reasons), decoding up to ``prefetch_batches`` ahead."""
    futures: deque[Future[np.ndarray | str]] = deque()
    ahead = options.batch_size * (options.prefetch_batches + 1)
    todo = iter(paths)
    batch: Crops = []
    while True:
        while len(futures) < ahead and (p := next(todo, None)) is not None:
            futures.append(pool.submit(load_crop, p, model.crop, options.draft))
        if not futures:
            break
        batch.append(futures.popleft().result())
        if len(batch) == options.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def score(batch: Crops, model: Classifier, outputs: Sequence[str] = ("logits",),
          paths: Sequence[str] = ()) -> tuple[dict[str, np.ndarray], list[str]]:
    """The requested outputs (NaN rows for photos that failed) and error reasons ("" when
    fine). The pseudo-output ``quality`` is computed from the crops (and the ``paths``'
    headers), not by the model (see ``quality.py``)."""
    good = [i for i, b in enumerate(batch) if not isinstance(b, str)]
    names = [n for n in outputs if n != QUALITY]
    stack = np.stack([batch[i] for i in good]) if good else None
    got = model.run(stack, names) if stack is not None and names else {}
    if stack is not None and QUALITY in outputs:
        got[QUALITY] = photo_quality(stack, [shortest_side(paths[i]) for i in good]
                                     if paths else None)
    result: dict[str, np.ndarray] = {}
    for name in outputs:
        width = got[name].shape[1] if good else _width(model, name)
        result[name] = np.full((len(batch), width), np.nan, dtype=np.float32)
        if good:
            result[name][good] = got[name]
    return result, [b if isinstance(b, str) else "" for b in batch]


def _width(model: Classifier, name: str) -> int:
    """An output's width from the graph (for a batch where nothing decoded)."""
    if name == QUALITY:
        return len(QUALITY_COLUMNS)
    if name == "logits":
        return len(model.classes)
    onnx_name = model.primary if name == "logits" else name
    out = model.session.get_outputs()[model.outputs.index(onnx_name)]
    width = out.shape[-1]
    return int(width) if isinstance(width, int) else len(model.classes)


def score_chunk(paths: Sequence[str], model: Classifier, options: RunOptions,
                outputs: Sequence[str], pool: ThreadPoolExecutor,
                progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """One chunk of photos -> {output: (n, width)} plus ``errors`` (a string array)."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    errors: list[str] = []
    start = 0
    for batch in decoded_batches(paths, model, options, pool):
        got, why = score(batch, model, outputs, paths[start:start + len(batch)])
        start += len(batch)
        for name in outputs:
            parts[name].append(got[name])
        errors += why
        if progress:
            progress(len(batch))
    result = {name: (np.concatenate(v) if v else np.zeros((0, _width(model, name)), np.float32))
              for name, v in parts.items()}
    result["errors"] = np.array(errors, dtype=str)
    return result


def fingerprint(photos: Photos, model: Classifier, options: RunOptions,
                outputs: Sequence[str]) -> str:
    h = hashlib.sha256()
    for pid, path in zip(photos.photo_id, photos.path, strict=True):
        h.update(f"{pid}\0{path}\n".encode())
    h.update(f"{model.identity()}|{options.chunk_size}|{options.draft}|{','.join(outputs)}"
             .encode())
    return h.hexdigest()


def claim(work: Path, fingerprint: str) -> None:
    """Create the work folder, or check that its parts belong to this very run."""
    work.mkdir(parents=True, exist_ok=True)
    meta = work / "run.json"
    if meta.exists():
        try:
            found = json.loads(meta.read_text()).get("fingerprint")
        except (ValueError, AttributeError, UnicodeDecodeError):
            found = None
        if found != fingerprint:
            raise InputError("parts of another run (other photos, model or options) are here; "
                             "delete the folder to start again", path=work)
        return
    write_text_atomic(meta, json.dumps({"fingerprint": fingerprint}))


def part_path(work: Path, chunk: int) -> Path:
    return work / f"part-{chunk:06d}.npz"


def write_part(work: Path, chunk: int, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(part_path(work, chunk)) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]


def read_part(work: Path, chunk: int, n: int,
              outputs: Sequence[str]) -> dict[str, np.ndarray] | None:
    """A part's arrays, or None when it is missing or not a whole part of ``n`` rows."""
    path = part_path(work, chunk)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in (*outputs, "errors")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if any(len(a) != n for a in arrays.values()) or arrays["errors"].dtype.kind != "U":
        return None
    return arrays


def chunks_of(n: int, size: int) -> list[tuple[int, int, int]]:
    """(chunk number, start, stop) of every chunk of ``n`` photos."""
    return [(c, c * size, min(n, (c + 1) * size)) for c in range(-(-n // size))]


def run_outputs(photos: Photos, model: Classifier, work: Path, options: RunOptions,
                outputs: Sequence[str] = ("logits",),
                progress: Progress | None = None) -> tuple[dict[str, np.ndarray], list[str],
                                                           int]:
    """Every requested output for every photo, in input order, resuming from ``work``.

    Returns ({output: (n, width) float32, NaN rows for photos that failed}, the error reason
    per photo ("" when fine), how many photos this call scored)."""
    outputs = tuple(dict.fromkeys(outputs))
    claim(work, fingerprint(photos, model, options, outputs))
    todo = []
    for c, lo, hi in chunks_of(len(photos), options.chunk_size):
        if read_part(work, c, hi - lo, outputs) is None:
            todo.append((c, lo, hi))
    done = len(photos) - sum(hi - lo for _, lo, hi in todo)
    start, scored = time.perf_counter(), 0

    def tick(k: int) -> None:
        nonlocal scored
        scored += k
        if progress:
            progress(done + scored, scored / max(time.perf_counter() - start, 1e-9))

    with ThreadPoolExecutor(options.decode_workers) as pool:
        for c, lo, hi in todo:
            write_part(work, c, score_chunk(photos.path[lo:hi], model, options, outputs, pool,
                                            tick))
    return (*gather(work, len(photos), options.chunk_size, outputs), scored)


#: The scoring step (:func:`run_outputs`' signature): the local runner or ``RayEngine``.
Scorer = Callable[[Photos, Classifier, Path, RunOptions, Sequence[str], Progress | None],
                  tuple[dict[str, np.ndarray], list[str], int]]


def gather(work: Path, n: int, chunk_size: int, outputs: Sequence[str],
           read: Callable[[Path, int, int, int], dict[str, np.ndarray] | None] | None = None,
           what: str = "part") -> tuple[dict[str, np.ndarray], list[str]]:
    """All parts concatenated in input order (every part must be there and whole).
    ``read(work, chunk, lo, hi)`` reads one; by default the runner's own part files (the Ray
    engine passes its Parquet shards' reader)."""
    arrays: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    errors: list[str] = []
    for c, lo, hi in chunks_of(n, chunk_size):
        part = (read(work, c, lo, hi) if read is not None
                else read_part(work, c, hi - lo, outputs))
        if part is None:
            raise InputError(f"{what} {c} is missing or damaged; run again to rescore it",
                             path=work)
        for name in outputs:
            arrays[name].append(part[name])
        errors += [str(e) for e in part["errors"]]
    result = {name: np.concatenate(v) if v else np.zeros((0, 0), np.float32)
              for name, v in arrays.items()}
    return result, errors

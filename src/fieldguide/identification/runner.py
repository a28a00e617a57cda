"""The batch runner: photos decoded on a thread pool while ONNX Runtime scores the previous
batch, logits written in numbered part files so a killed run resumes where it stopped.

A chunk's part file is written to a temporary name and renamed into place (atomic), so a
part exists whole or not at all: the existing parts are the done-set, and a restart scores
only the missing chunks. ``run.json`` pins the listing and the model the parts belong to.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.decode import load_crop
from fieldguide.identification.inputs import Photos
from fieldguide.identification.model import Classifier

Progress = Callable[[int, float], None]  # (photos done so far, images/s of this run)


@dataclass(frozen=True)
class RunOptions:
    batch_size: int = 32
    chunk_size: int = 512
    decode_workers: int = 2
    prefetch_batches: int = 2
    draft: bool = True


def decoded_batches(paths: Sequence[str], model: Classifier, options: RunOptions,
                    pool: ThreadPoolExecutor) -> Iterator[list[np.ndarray | str]]:
    """Batches of crops (or error reasons), decoding up to ``prefetch_batches`` ahead."""
    futures: deque[Future[np.ndarray | str]] = deque()
    ahead = options.batch_size * (options.prefetch_batches + 1)
    todo = iter(paths)
    batch: list[np.ndarray | str] = []
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


def score(batch: list[np.ndarray | str], model: Classifier) -> tuple[np.ndarray, list[str]]:
    """Logits (NaN rows for photos that failed) and error reasons ("" when fine)."""
    good = [i for i, b in enumerate(batch) if not isinstance(b, str)]
    logits = np.full((len(batch), len(model.classes)), np.nan, dtype=np.float32)
    if good:
        logits[good] = model.logits(np.stack([batch[i] for i in good]))
    return logits, [b if isinstance(b, str) else "" for b in batch]


def _fingerprint(photos: Photos, model: Classifier, options: RunOptions) -> str:
    h = hashlib.sha256()
    for pid, path in zip(photos.photo_id, photos.path, strict=True):
        h.update(f"{pid}\0{path}\n".encode())
    h.update(f"{model.identity()}|{options.chunk_size}|{options.draft}".encode())
    return h.hexdigest()


def _claim(work: Path, fingerprint: str) -> None:
    """Create the work folder, or check that its parts belong to this very run."""
    work.mkdir(parents=True, exist_ok=True)
    meta = work / "run.json"
    if meta.exists():
        if json.loads(meta.read_text()).get("fingerprint") != fingerprint:
            raise InputError("parts of another run (other photos, model or options) are here; "
                             "delete the folder to start again", path=work)
        return
    tmp = work / "run.json.tmp"
    tmp.write_text(json.dumps({"fingerprint": fingerprint}))
    os.replace(tmp, meta)


def part_path(work: Path, chunk: int) -> Path:
    return work / f"part-{chunk:06d}.npz"


def run_parts(photos: Photos, model: Classifier, work: Path, options: RunOptions,
              progress: Progress | None = None) -> int:
    """Score every chunk that has no part file yet; returns how many photos were scored."""
    _claim(work, _fingerprint(photos, model, options))
    size = options.chunk_size
    chunks = [c for c in range(-(-len(photos) // size)) if not part_path(work, c).exists()]
    done = len(photos) - sum(len(photos.path[c * size:(c + 1) * size]) for c in chunks)
    start, scored = time.perf_counter(), 0
    with ThreadPoolExecutor(options.decode_workers) as pool:
        for c in chunks:
            logits, errors = [], []
            for batch in decoded_batches(photos.path[c * size:(c + 1) * size], model, options,
                                         pool):
                got, why = score(batch, model)
                logits.append(got)
                errors += why
                scored += len(batch)
                if progress:
                    progress(done + scored, scored / max(time.perf_counter() - start, 1e-9))
            tmp = work / f".part-{c:06d}.tmp.npz"
            np.savez(tmp, logits=np.concatenate(logits), errors=np.array(errors, dtype=str))
            os.replace(tmp, part_path(work, c))
    return scored


def read_parts(work: Path, n: int, n_classes: int, chunk_size: int) -> tuple[np.ndarray,
                                                                              list[str]]:
    """All logits and error reasons in input order (every part must be there)."""
    logits = np.empty((n, n_classes), dtype=np.float32)
    errors: list[str] = []
    for c in range(-(-n // chunk_size)):
        with np.load(part_path(work, c)) as part:
            logits[c * chunk_size:c * chunk_size + len(part["logits"])] = part["logits"]
            errors += [str(e) for e in part["errors"]]
    if len(errors) != n:
        raise InputError(f"parts hold {len(errors)} photos, expected {n}", path=work)
    return logits, errors

"""The embedding store: every photo's vector from one encoder, on disk in shards.

A store is a folder::

    store.json                  format, the encoder's identity, width, shard size
    shards/000000.npy           float32 (rows, width), read memory-mapped
    shards/000000.json          the shard's photo keys (row order) and the photos that failed

Each shard is written whole under a temporary name and renamed into place, its ``.npy``
first and its ``.json`` last: the ``.json`` says the shard is complete, so a writer killed
mid-shard leaves at most one shard to redo, and a reader never sees half of one. A photo that
cannot be decoded is listed as failed with its reason (never a NaN row), so a rerun does not
try it again unless its key changes (a new file has another size or mtime).

A store holds one encoder's vectors only: ``store.json`` records its :class:`EncoderIdentity`
and a writer or reader that expects another is refused with one line, so vectors of two
encoders are never mixed. There is one writer, :func:`extend`: it embeds only the photos the
store lacks, one chunk at a time, one shard per chunk, whatever computes the vectors (a
PyTorch backbone, an ONNX encoder, a model's ``embedding`` output locally or on Ray).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.inputs.files import atomic_path, write_text_atomic

FORMAT = "fieldguide-embeddings/1"
MANIFEST = "store.json"
SHARDS = "shards"
#: Photos per shard unless a store says otherwise: a multiple of every batch size in use, so
#: a chunk is cut into the same batches as the whole list would be.
SHARD_ROWS = 4096

#: Photo paths -> (n, d) float32 vectors and the reason each photo failed ("" when it did not).
Compute = Callable[[list[str]], tuple[np.ndarray, list[str]]]
#: Chunks of photo paths -> (chunk number, vectors, errors) for each chunk, in any order.
Engine = Callable[[list[list[str]]], Iterator[tuple[int, np.ndarray, list[str]]]]
Progress = Callable[[int, int], None]  # (photos done, photos to do)


@dataclass(frozen=True)
class EncoderIdentity:
    """What an embedding depends on: the backbone, its weights, the preprocessing (as
    canonical JSON) and, where the encoder is an ONNX file, that file's sha256."""

    backbone: str
    weights: str
    preprocessing: str
    onnx_sha256: str = ""

    @classmethod
    def of(cls, backbone: str, weights: str, preprocessing: dict[str, Any],
           onnx_sha256: str = "") -> EncoderIdentity:
        return cls(backbone, weights, json.dumps(preprocessing, sort_keys=True), onnx_sha256)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any, where: Path | None = None) -> EncoderIdentity:
        keys = ("backbone", "weights", "preprocessing", "onnx_sha256")
        if not isinstance(d, dict) or not all(isinstance(d.get(k, ""), str) for k in keys) \
                or not isinstance(d.get("backbone"), str):
            raise InputError("must be a mapping of backbone, weights, preprocessing and "
                             "onnx_sha256 strings", path=where, field="identity")
        return cls(*(str(d.get(k, "")) for k in keys))

    @property
    def digest(self) -> str:
        """A short name for the identity (store folders are named by it)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def describe(self) -> str:
        sha = f", onnx {self.onnx_sha256[:12]}" if self.onnx_sha256 else ""
        return f"{self.backbone} ({self.weights}{sha})"


def photo_key(path: str | Path, *, by: str = "stat") -> str:
    """A photo's key in a store: its resolved path with mtime and size (``by="stat"``, cheap:
    a changed file is a new photo), or the sha256 of its bytes (``by="sha256"``: moving a file
    keeps its vectors). A path that does not exist is keyed as missing; a URL is its own key."""
    if by not in ("stat", "sha256"):
        raise ValueError(f"photos are keyed by 'stat' or 'sha256', not {by!r}")
    text = str(path)
    if text.startswith(("http://", "https://")):
        return text
    p = Path(text)
    try:
        st = p.stat()
    except OSError:
        return f"{p.resolve()}|missing"
    if by == "sha256":
        from fieldguide.inputs.files import file_sha256

        return f"sha256:{file_sha256(p)}"
    return f"{p.resolve()}|{st.st_mtime_ns}|{st.st_size}"


def _shard_name(number: int) -> str:
    return f"{number:06d}"


@dataclass(frozen=True)
class _Shard:
    number: int
    keys: list[str]
    failed: dict[str, str]


def _read_index(path: Path) -> _Shard | None:
    """A shard's index, or None when it is unreadable (such a shard is written again)."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        keys, failed = d["keys"], d["failed"]
        if not isinstance(keys, list) or not isinstance(failed, dict):
            return None
        return _Shard(int(path.stem), [str(k) for k in keys],
                      {str(k): str(v) for k, v in failed.items()})
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


class EmbeddingStore:
    """A store opened for reading: keys, lookups and memory-mapped shards.

    Rows are numbered through the shards in order; ``shards()`` are read-only memmaps, so a
    million-photo store costs no memory until its rows are read."""

    def __init__(self, folder: Path, identity: EncoderIdentity, width: int,
                 shard_rows: int, shards: list[_Shard]) -> None:
        self.folder, self.identity, self.width, self.shard_rows = folder, identity, width, \
            shard_rows
        self._shards = shards
        self._index: dict[str, int] | None = None
        self._maps: list[np.ndarray] | None = None

    @classmethod
    def open(cls, folder: str | Path, identity: EncoderIdentity | None = None
             ) -> EmbeddingStore:
        """Open a store; with ``identity``, refuse one of another encoder."""
        folder = Path(folder)
        manifest = folder / MANIFEST
        if not manifest.is_file():
            raise InputError("not an embedding store (no store.json)", path=folder)
        try:
            d = json.loads(manifest.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"not a readable store manifest: {exc}", path=manifest) from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InputError(f"not a {FORMAT} store", path=manifest, field="format")
        found = EncoderIdentity.from_dict(d.get("identity"), manifest)
        if identity is not None and found != identity:
            raise InputError(f"this store holds embeddings of another encoder "
                             f"({found.describe()}, not {identity.describe()}); use another "
                             "folder", path=folder, field="identity")
        width, rows = d.get("width"), d.get("shard_rows")
        if not isinstance(width, int) or width < 0 or not isinstance(rows, int) or rows < 1:
            raise InputError("width and shard_rows must be whole numbers", path=manifest)
        return cls(folder, found, width, rows, _complete_shards(folder, width))

    def __len__(self) -> int:
        return sum(len(s.keys) for s in self._shards)

    def keys(self) -> list[str]:
        """Every embedded photo's key, in row order."""
        return [k for s in self._shards for k in s.keys]

    def failed(self) -> dict[str, str]:
        """The photos that could not be embedded: key -> reason."""
        return {k: v for s in self._shards for k, v in s.failed.items()}

    def lookup(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each key's row (-1 where absent) and the mask of keys found."""
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self.keys())}
        rows = np.array([self._index.get(k, -1) for k in keys], dtype=np.int64)
        return rows, rows >= 0

    def shards(self) -> list[np.ndarray]:
        """The shards' vectors as read-only memmaps, in row order (empty shards left out)."""
        if self._maps is None:
            self._maps = [np.load(self.folder / SHARDS / f"{_shard_name(s.number)}.npy",
                                  mmap_mode="r", allow_pickle=False)
                          for s in self._shards if s.keys]
        return self._maps

    def vectors(self, rows: np.ndarray | Sequence[int]) -> np.ndarray:
        """(len(rows), width) float32: the given rows, in the order given."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros((len(rows), self.width), dtype=np.float32)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= len(self):
            raise IndexError(f"rows must be in [0, {len(self)})")
        maps = self.shards()
        starts = np.cumsum([0, *(len(m) for m in maps)])
        which = np.searchsorted(starts, rows, side="right") - 1
        for s in np.unique(which):
            mine = which == s
            out[mine] = maps[s][rows[mine] - starts[s]]
        return out

    def gather(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(n, width) vectors of the keys (zero rows where absent) and the mask of keys found."""
        rows, found = self.lookup(keys)
        out = np.zeros((len(keys), self.width), dtype=np.float32)
        out[found] = self.vectors(rows[found])
        return out, found


def _complete_shards(folder: Path, width: int) -> list[_Shard]:
    """The shards whose index and vectors are both whole, in number order."""
    found = []
    for index in sorted((folder / SHARDS).glob("[0-9]*.json")):
        shard = _read_index(index)
        if shard is None:
            continue
        if shard.keys:
            try:
                arr = np.load(index.with_suffix(".npy"), mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError):
                continue
            if arr.dtype != np.float32 or arr.shape != (len(shard.keys), width):
                continue
        found.append(shard)
    return found


@contextmanager
def _writer_lock(folder: Path) -> Iterator[None]:
    """One writer per store at a time (a second is refused, not interleaved)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError("another process is writing this store", path=folder) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class StoreWriter:
    """Adds shards to one store (use through :func:`extend`, which holds the lock)."""

    def __init__(self, folder: str | Path, identity: EncoderIdentity,
                 shard_rows: int = SHARD_ROWS) -> None:
        self.folder = Path(folder)
        if (self.folder / MANIFEST).is_file():
            self.store = EmbeddingStore.open(self.folder, identity)
        else:
            if self.folder.exists() and any(p.name != ".lock" for p in self.folder.iterdir()):
                raise InputError("is not empty and not an embedding store; choose an empty "
                                 "or new folder", path=self.folder)
            self._write_manifest(identity, 0, shard_rows)
            self.store = EmbeddingStore.open(self.folder, identity)
        for stale in (self.folder / SHARDS).glob(".*.tmp"):  # left by a killed writer
            stale.unlink(missing_ok=True)

    def _write_manifest(self, identity: EncoderIdentity, width: int, shard_rows: int) -> None:
        write_text_atomic(self.folder / MANIFEST, json.dumps(
            {"format": FORMAT, "identity": identity.to_dict(), "width": width,
             "shard_rows": shard_rows}, indent=2) + "\n")

    def reserve(self, chunk_size: int | None) -> int:
        """The rows per shard of this run (default: the store's); the manifest's
        ``shard_rows`` stays the most any shard holds."""
        store = self.store
        rows = chunk_size or store.shard_rows
        if rows > store.shard_rows:
            self._write_manifest(store.identity, store.width, rows)
            store.shard_rows = rows
        return rows

    def add(self, keys: Sequence[str], vectors: np.ndarray, errors: Sequence[str]) -> None:
        """One shard: the photos whose error is "" with their rows of ``vectors``, the
        others listed as failed with their reasons."""
        good = [i for i, e in enumerate(errors) if not e]
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(keys) != len(errors) or (good and vectors.shape[0] != len(keys)):
            raise ValueError("keys, vectors and errors must have one entry per photo")
        store = self.store
        if good:
            block = np.ascontiguousarray(vectors[good])
            if not np.isfinite(block).all():
                raise ValueError("the encoder gave NaN or infinite values")
            if store.width == 0:
                self._write_manifest(store.identity, block.shape[1], store.shard_rows)
                store.width = block.shape[1]
            elif block.shape[1] != store.width:
                raise ValueError(f"vectors are {block.shape[1]} wide, the store's "
                                 f"{store.width}")
        number = max((s.number for s in store._shards), default=-1) + 1
        base = self.folder / SHARDS / _shard_name(number)
        if good:
            with atomic_path(base.with_suffix(".npy")) as tmp, tmp.open("wb") as fh:
                np.save(fh, block, allow_pickle=False)
        shard = _Shard(number, [keys[i] for i in good],
                       {keys[i]: str(e) for i, e in enumerate(errors) if e})
        write_text_atomic(base.with_suffix(".json"), json.dumps(
            {"keys": shard.keys, "failed": shard.failed}) + "\n")
        store._shards.append(shard)
        store._index, store._maps = None, None


def missing(store: EmbeddingStore, keys: Sequence[str]) -> list[int]:
    """Positions of the keys the store neither holds nor lists as failed (first of
    duplicates only)."""
    done = set(store.keys()) | set(store.failed())
    seen: set[str] = set()
    todo = []
    for i, k in enumerate(keys):
        if k not in done and k not in seen:
            todo.append(i)
            seen.add(k)
    return todo


def in_turn(compute: Compute) -> Engine:
    """An engine that computes the chunks here, one after another."""
    def run(chunks: list[list[str]]) -> Iterator[tuple[int, np.ndarray, list[str]]]:
        for c, paths in enumerate(chunks):
            yield (c, *compute(paths))

    return run


def extend(folder: str | Path, identity: EncoderIdentity, paths: Sequence[str | Path],
           compute: Compute | None = None, *, engine: Engine | None = None,
           keys: Sequence[str] | None = None, chunk_size: int | None = None,
           progress: Progress | None = None) -> EmbeddingStore:
    """The one writer: embed the photos the store at ``folder`` lacks (created when new),
    ``chunk_size`` at a time (default: the store's shard size), one shard per chunk, and
    return the store.

    The vectors come from ``compute`` (one chunk at a time, here) or from an ``engine`` that
    computes the chunks elsewhere (Ray actors) and hands each back as it finishes. ``keys``
    are the photos' keys (default: :func:`photo_key` of each path). A run killed part-way
    keeps its finished shards: the same call again computes only the rest."""
    if (compute is None) == (engine is None):
        raise ValueError("give compute or engine, not both")
    if chunk_size is not None and chunk_size < 1:
        raise InputError("chunk size must be at least 1", field="--chunk-size")
    folder = Path(folder)
    names = [str(p) for p in paths]
    keys = list(keys) if keys is not None else [photo_key(p) for p in names]
    run = engine or in_turn(compute)  # type: ignore[arg-type]  # one of them, checked above
    with _writer_lock(folder):
        writer = StoreWriter(folder, identity, chunk_size or SHARD_ROWS)
        chunk_size = writer.reserve(chunk_size)
        todo = missing(writer.store, keys)
        parts = [todo[s:s + chunk_size] for s in range(0, len(todo), chunk_size)]
        done = 0
        for c, vectors, errors in run([[names[i] for i in part] for part in parts]):
            writer.add([keys[i] for i in parts[c]], vectors, errors)
            done += len(parts[c])
            if progress is not None:
                progress(done, len(todo))
    return EmbeddingStore.open(folder, identity)


def errors_from_mask(ok: np.ndarray, reason: str = "could not be read as an image"
                     ) -> list[str]:
    """Reasons for a compute function that only says which photos decoded."""
    return ["" if bool(v) else reason for v in ok]

"""The index folder: the vectors in faiss, what each vector is beside them, and the model
that made them.

- ``index.json``: format, the model identity (card name and version, sha256 of
  ``model.onnx``, embedding width), the faiss kind, the classes, lineage and temperature the
  logits belong to, the vector count and the names of the current files.
- ``index.<g>.faiss``: L2-normalised embeddings, inner product (= cosine). Exact
  ``IndexFlatIP`` up to ``FLAT_LIMIT`` vectors, IVF with 8-bit scalar-quantised lists
  beyond (``kind="auto"``).
- ``meta.<g>.parquet``: photo_id, observation_id, path, label (current label, "" none) and
  predicted (the model's top class) of vector i in row i.
- ``logits.<g>.npy``: the model's logits of vector i, memory-mapped (reverse search).

Files carry a generation number and ``index.json`` is replaced last, atomically: an ``add``
killed half way leaves the previous generation whole and readable (several files cannot be
renamed into place together, one small JSON can). Opening maps the files rather than reading
them, so a million-vector index opens in milliseconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.inputs.files import file_sha256 as file_sha256  # for search.embed
from fieldguide.inputs.files import write_text_atomic
from fieldguide.search.taxa import Taxa

if TYPE_CHECKING:
    import faiss
    import pyarrow as pa

FORMAT = "fieldguide-index/1"
INFO = "index.json"
#: Above this many vectors ``kind="auto"`` builds IVF (8-bit codes): exact search scans every vector
#: (about 40 ms a query at a million 1280-d vectors on two cores), IVF a few percent of them.
FLAT_LIMIT = 300_000
KINDS = ("auto", "flat", "ivf")
META_COLUMNS = ("photo_id", "observation_id", "path", "label", "predicted")
_CHUNK = 65_536


@dataclass(frozen=True)
class ModelIdentity:
    """What makes two embeddings comparable: the same card, the same weights, the same width."""

    name: str
    version: str
    onnx_sha256: str
    width: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "onnx_sha256": self.onnx_sha256,
                "width": self.width}

    def require_same(self, other: ModelIdentity, where: Path) -> None:
        """Refuse to mix embeddings of two models in one index."""
        if other != self:
            raise InputError(
                f"the index was built with model {self.name} {self.version} "
                f"(onnx sha256 {self.onnx_sha256[:12]}, width {self.width}), not "
                f"{other.name} {other.version} (sha256 {other.onnx_sha256[:12]}, width "
                f"{other.width}): embeddings of two models are not comparable; build a new "
                "index", path=where, field="model")


@dataclass
class Entries:
    """Vectors to put in an index, with what each one is (rows in the same order)."""

    photo_id: list[str]
    observation_id: list[str]
    path: list[str]
    label: list[str]
    embeddings: np.ndarray  # (n, D)
    logits: np.ndarray  # (n, K)

    def __len__(self) -> int:
        return len(self.photo_id)

    def check(self) -> None:
        n = len(self.photo_id)
        sizes = {len(self.observation_id), len(self.path), len(self.label),
                 len(self.embeddings), len(self.logits)}
        if sizes != {n}:
            raise ValueError("entries: every column needs one value per photo")
        if len(set(self.photo_id)) != n:
            raise InputError("a photo_id appears twice", field="photo_id")
        if not (np.isfinite(self.embeddings).all() and np.isfinite(self.logits).all()):
            raise ValueError("entries: embeddings and logits must be finite (drop failed photos)")


@dataclass(frozen=True)
class Layout:
    """``index.json`` parsed: everything but the arrays."""

    model: ModelIdentity
    kind: str  # "flat" or "ivf": what was built
    requested: str  # what was asked for ("auto" may switch to ivf as the index grows)
    nlist: int
    nprobe: int
    count: int
    generation: int
    classes: tuple[str, ...]
    lineage: dict[str, dict[str, str]]
    temperature: float
    model_path: str

    def file(self, part: str) -> str:
        ext = {"index": "faiss", "meta": "parquet", "logits": "npy"}[part]
        return f"{part}.{self.generation}.{ext}"

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "model": self.model.to_dict(), "kind": self.kind,
                "requested": self.requested, "nlist": self.nlist, "nprobe": self.nprobe,
                "count": self.count, "generation": self.generation,
                "files": {p: self.file(p) for p in ("index", "meta", "logits")},
                "classes": list(self.classes), "lineage": self.lineage,
                "temperature": self.temperature, "model_path": self.model_path}


def read_layout(folder: Path) -> Layout:
    path = folder / INFO
    if not path.is_file():
        raise InputError("not an index folder (no index.json)", path=folder)
    try:
        d = json.loads(path.read_text())
        if d.get("format") != FORMAT:
            raise InputError(f"not a {FORMAT} index", path=path, field="format")
        m = d["model"]
        return Layout(ModelIdentity(str(m["name"]), str(m["version"]), str(m["onnx_sha256"]),
                                    int(m["width"])),
                      str(d["kind"]), str(d["requested"]), int(d["nlist"]), int(d["nprobe"]),
                      int(d["count"]), int(d["generation"]), tuple(d["classes"]),
                      dict(d["lineage"]), float(d["temperature"]), str(d["model_path"]))
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"index.json is incomplete ({exc})", path=path) from None


class Index:
    """An opened index: ``faiss`` (memory-mapped), ``meta`` (a pyarrow table, row i =
    vector i), ``logits`` (memory-mapped (n, K)), ``taxa`` (the names the lineage knows)."""

    def __init__(self, folder: Path, layout: Layout, index: faiss.Index, meta: pa.Table,
                 logits: np.ndarray) -> None:
        self.folder, self.layout, self.faiss, self.meta, self.logits = (folder, layout, index,
                                                                         meta, logits)
        self.taxa = Taxa.from_lineage(layout.classes, layout.lineage)
        self._labels: tuple[list[str], np.ndarray] | None = None

    def __len__(self) -> int:
        return self.layout.count

    def column(self, name: str) -> list[str]:
        return [str(v) for v in self.meta.column(name).to_pylist()]

    def labels(self) -> tuple[list[str], np.ndarray]:
        """The distinct labels and, per vector, the index of its label among them (subtree
        masks are computed per distinct label, not per vector)."""
        if self._labels is None:
            import pyarrow.compute as pc

            enc = pc.dictionary_encode(self.meta.column("label")).combine_chunks()
            self._labels = ([str(v) for v in enc.dictionary.to_pylist()],
                            enc.indices.to_numpy(zero_copy_only=False).astype(np.int64))
        return self._labels

    def rows_within(self, taxon: str) -> np.ndarray:
        """Rows whose current label lies in ``taxon``'s subtree."""
        names, which = self.labels()
        return np.flatnonzero(self.taxa.label_mask(names, taxon)[which]) if names else \
            np.zeros(0, np.int64)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored (normalised) embeddings of ``rows``."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        if self.layout.kind == "ivf":
            import faiss

            ivf = faiss.extract_index_ivf(self.faiss)
            if ivf.direct_map.type == faiss.DirectMap.NoMap:  # type: ignore[attr-defined]
                ivf.make_direct_map()
        return np.asarray(self.faiss.reconstruct_batch(rows), dtype=np.float32)


def _read_flags(kind: str) -> int:
    """Zero-copy maps: IVF lists map with IO_FLAG_MMAP; a flat index's one big code array
    only with IO_FLAG_MMAP_IFC (IO_FLAG_MMAP would copy it into memory)."""
    import faiss

    return int(faiss.IO_FLAG_MMAP if kind == "ivf" else faiss.IO_FLAG_MMAP_IFC)


def open_index(folder: str | Path) -> Index:
    """Open an index folder memory-mapped; checks that its files agree with ``index.json``."""
    import faiss
    import pyarrow.parquet as pq

    folder = Path(folder)
    layout = read_layout(folder)
    paths = {p: folder / layout.file(p) for p in ("index", "meta", "logits")}
    for p in paths.values():
        if not p.is_file():
            raise InputError("index file missing", path=p)
    index = faiss.read_index(str(paths["index"]), _read_flags(layout.kind))
    meta = pq.read_table(paths["meta"], memory_map=True)
    logits = np.load(paths["logits"], mmap_mode="r")
    if not (index.ntotal == meta.num_rows == len(logits) == layout.count):
        raise InputError(f"index files disagree ({index.ntotal} vectors, {meta.num_rows} rows, "
                         f"{len(logits)} logits, index.json says {layout.count})", path=folder)
    if index.d != layout.model.width:
        raise InputError(f"vectors are {index.d} wide, index.json says {layout.model.width}",
                         path=folder)
    if index.is_trained and layout.kind == "ivf":
        faiss.extract_index_ivf(index).nprobe = layout.nprobe
    return Index(folder, layout, index, meta, logits)


def normalised(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32, C order): inner product becomes cosine."""
    out = np.array(x, dtype=np.float32, order="C", copy=True)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out /= np.where(norms > 0, norms, 1.0)
    return out


def ivf_shape(n: int) -> tuple[int, int]:
    """(nlist, nprobe) for n vectors: about sqrt(n) lists (1,000 at a million; more would
    cost k-means time the 180 s build budget on two cores does not have) and 1% of them
    probed, at least 8: the cost of a query is the codes it scans, and on heavy-tailed
    clustered data 1% of the 8-bit codes keeps recall@10 near 0.97 (2% gains 0.006 for
    twice the scan; bench/search.py; ``--nprobe`` trades speed for recall per query)."""
    nlist = max(1, min(round(math.sqrt(n)), n // 39))
    return nlist, probes(nlist)


def probes(nlist: int) -> int:
    """The default nprobe of an IVF index with ``nlist`` lists (see :func:`ivf_shape`)."""
    return min(nlist, max(8, round(nlist / 100)))


def _kind(requested: str, n: int) -> str:
    if requested not in KINDS:
        raise InputError(f"index kind {requested!r} is not one of {', '.join(KINDS)}",
                         field="kind")
    if requested == "auto":
        return "ivf" if n > FLAT_LIMIT else "flat"
    return requested


def _faiss_index(vectors_of: Sequence[np.ndarray], n: int, width: int, kind: str,
                 nlist: int, seed: int = 0) -> faiss.Index:
    """A faiss index filled from chunks of vectors, each normalised as it is added (IVF
    trained on a sample): a million 1280-d vectors are 5 GB, so no normalised copy of all
    of them is ever held beside faiss's own. IVF lists hold 8-bit scalar-quantised residuals:
    a query's time is memory read, and a quarter of the bytes cut the tail of the largest
    lists (docs/benchmarks.md, search: at a million 1280-d vectors recall@10 0.99 -> 0.97
    for a p99 under 10 ms)."""
    import faiss

    if kind == "flat":
        index: faiss.Index = faiss.IndexFlatIP(width)
    else:
        quantiser = faiss.IndexFlatIP(width)
        index = faiss.IndexIVFScalarQuantizer(quantiser, width, nlist,
                                              faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
        index.own_fields = True
        quantiser.this.disown()  # type: ignore[attr-defined]
        index.train(normalised(_sample(vectors_of, n, min(n, 40 * nlist), seed)))
    for chunk in vectors_of:
        index.add(normalised(chunk))
    return index


def _sample(chunks: Sequence[np.ndarray], n: int, size: int, seed: int) -> np.ndarray:
    """``size`` rows drawn evenly at random across the chunks (k-means training set)."""
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, size, replace=False))
    out, start = [], 0
    for chunk in chunks:
        take = pick[(pick >= start) & (pick < start + len(chunk))] - start
        out.append(chunk[take])
        start += len(chunk)
    return np.ascontiguousarray(np.concatenate(out))


def _commit(folder: Path, layout: Layout, index: faiss.Index, meta: pa.Table,
            logits_of: Sequence[np.ndarray], n_classes: int) -> None:
    """Write one generation's files, then ``index.json`` (the commit point), then drop the
    files of older generations."""
    import faiss
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(folder / layout.file("index")))
    pq.write_table(meta, folder / layout.file("meta"))
    out = np.lib.format.open_memmap(folder / layout.file("logits"), mode="w+", dtype=np.float32,
                                    shape=(layout.count, n_classes))
    start = 0
    for chunk in logits_of:
        out[start:start + len(chunk)] = chunk
        start += len(chunk)
    out.flush()
    del out
    write_text_atomic(folder / INFO, json.dumps(layout.to_dict(), indent=1) + "\n")
    keep = {layout.file(p) for p in ("index", "meta", "logits")}
    for old in folder.glob("*.*.*"):
        if old.name not in keep and old.name.split(".")[0] in ("index", "meta", "logits"):
            old.unlink()


def _meta_table(entries: Entries, predicted: list[str]) -> pa.Table:
    import pyarrow as pa

    return pa.table({"photo_id": entries.photo_id, "observation_id": entries.observation_id,
                     "path": entries.path, "label": entries.label, "predicted": predicted},
                    schema=pa.schema([(c, pa.string()) for c in META_COLUMNS]))


def _predicted(logits: np.ndarray, classes: Sequence[str]) -> list[str]:
    return [classes[j] for j in np.argmax(logits, axis=1)] if len(logits) else []


def _chunks(x: np.ndarray) -> list[np.ndarray]:
    return [x[i:i + _CHUNK] for i in range(0, len(x), _CHUNK)] or [x[:0]]


def write_index(folder: str | Path, entries: Entries, *, model: ModelIdentity,
                classes: Sequence[str], lineage: Mapping[str, Mapping[str, str]],
                temperature: float | None = None, model_path: str = "", kind: str = "auto",
                nlist: int | None = None, nprobe: int | None = None) -> Index:
    """A new index from arrays (the embedding step is ``fieldguide.search.build``)."""
    folder = Path(folder)
    if (folder / INFO).exists():
        raise InputError("an index is already here (add to it with `fieldguide index add`)",
                         path=folder)
    entries.check()
    if entries.embeddings.shape[1:] != (model.width,) or \
            entries.logits.shape[1:] != (len(classes),):
        raise InputError(f"embeddings must be (n, {model.width}) and logits (n, "
                         f"{len(classes)})", field="embedding")
    built = _kind(kind, len(entries))
    nlist = nlist or ivf_shape(len(entries))[0]
    layout = Layout(model, built, kind, nlist, nprobe or probes(nlist),
                    len(entries), 1, tuple(classes),
                    {c: dict(v) for c, v in lineage.items()}, float(temperature or 1.0),
                    model_path)
    if built == "ivf" and len(entries) < layout.nlist:
        raise InputError(f"IVF with {layout.nlist} lists needs at least that many vectors "
                         f"({len(entries)} given)", field="nlist")
    index = _faiss_index(_chunks(entries.embeddings), len(entries), model.width, built,
                         layout.nlist)
    _commit(folder, layout, index, _meta_table(entries, _predicted(entries.logits, classes)),
            _chunks(np.asarray(entries.logits, np.float32)), len(classes))
    return open_index(folder)


def append(index: Index, entries: Entries, model: ModelIdentity) -> Index:
    """A new generation of the index with ``entries`` added (photos already in it are
    skipped); an ``auto`` index that outgrows ``FLAT_LIMIT`` is rebuilt as IVF."""
    import faiss
    import pyarrow as pa

    layout = index.layout
    layout.model.require_same(model, index.folder)
    entries.check()
    known = set(index.column("photo_id"))
    keep = [i for i, p in enumerate(entries.photo_id) if p not in known]
    if not keep:
        return index
    sub = Entries([entries.photo_id[i] for i in keep],
                  [entries.observation_id[i] for i in keep], [entries.path[i] for i in keep],
                  [entries.label[i] for i in keep], entries.embeddings[keep],
                  entries.logits[keep])
    n = len(index) + len(sub)
    built = _kind(layout.requested, n)
    if built == layout.kind:
        grown = faiss.read_index(str(index.folder / layout.file("index")))  # writable copy
        grown.add(normalised(sub.embeddings))
        nlist, nprobe = layout.nlist, layout.nprobe
    else:  # flat -> ivf: retrain on everything
        nlist, nprobe = ivf_shape(n)
        old = [index.vectors(np.arange(s, min(s + _CHUNK, len(index))))
               for s in range(0, len(index), _CHUNK)]
        grown = _faiss_index([*old, *_chunks(sub.embeddings)], n, layout.model.width, built,
                             nlist)
    meta = pa.concat_tables([index.meta, _meta_table(sub, _predicted(sub.logits,
                                                                     layout.classes))])
    new = Layout(layout.model, built, layout.requested, nlist, nprobe, n,
                 layout.generation + 1, layout.classes, layout.lineage, layout.temperature,
                 layout.model_path)
    logits = [*_chunks(index.logits), np.asarray(sub.logits, np.float32)]
    _commit(index.folder, new, grown, meta, logits, len(layout.classes))
    return open_index(index.folder)

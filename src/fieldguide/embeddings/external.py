"""Embeddings from elsewhere: the import format (``docs/embeddings.md``) and its reader, and
the outputs of a heads-only model on such a file.

The format is one Parquet file, a row per photo: ``photo_id`` (string), ``taxon`` (string),
optional lineage columns named by rank (``genus``, ``family``, ...), ``split`` (``train``,
``val`` or ``test``) and ``embedding`` (a fixed-size list of float32, every row as wide). The
reader refuses, in one line naming the file, the column and (where there is one) the row, a
missing column, rows of different widths or not the width a model expects, NaN or infinite
values, a row without a split, and a split with no rows. Rows are counted from 1 (a Parquet
file has no header line), reported as ``line N``.

A store folder (``fieldguide embed``) reads the same way when it holds ``labels.parquet``:
the labelled listing it was built from, each photo's vector looked up by its key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError

SPLITS = ("train", "val", "test")
REQUIRED = ("photo_id", "taxon", "split", "embedding")
LABELS = "labels.parquet"  # in a store folder: the labelled listing it embeds


@dataclass
class LabelledEmbeddings:
    """Photos with their label columns (``taxon``, lineage, traits) and vectors, in file
    order; ``encoder`` is the store's encoder identity, or "external"."""

    path: Path
    columns: dict[str, list[Any]]
    vectors: np.ndarray
    encoder: dict[str, str] | str = "external"
    skipped: int = 0  # listed photos the store has no vector for (they failed to decode)

    @property
    def photo_id(self) -> list[str]:
        return [str(v) for v in self.columns["photo_id"]]

    @property
    def width(self) -> int:
        return int(self.vectors.shape[1])

    def rows(self, split: str) -> np.ndarray:
        """The rows of one split; a split with no rows is refused."""
        rows = np.flatnonzero(np.asarray(self.columns["split"], dtype=object) == split)
        if not len(rows):
            raise InputError(f"no row has split {split!r}", path=self.path, field="split")
        return rows


def _table(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fieldguide.inputs.files import regular_file

    regular_file(path, what="embeddings file")
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"not a readable Parquet file: {str(exc)[:200]}", path=path) from None


def _vectors(table: Any, path: Path, width: int | None) -> np.ndarray:
    """The ``embedding`` column as (n, d) float32, every row checked."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = table.column("embedding").combine_chunks()
    kind = col.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)
            or pa.types.is_fixed_size_list(kind)) or not pa.types.is_floating(kind.value_type):
        raise InputError(f"must be a list of float32, not {kind}", path=path, field="embedding")
    if col.null_count:
        row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError("no vector", path=path, line=row + 1, field="embedding")
    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths != lengths[0]).any():
        row = int(np.flatnonzero(lengths != lengths[0])[0])
        raise InputError(f"{lengths[row]} values where row 1 has {lengths[0]}: every vector "
                         "must be as wide", path=path, line=row + 1, field="embedding")
    d = int(lengths[0]) if len(lengths) else (width or 0)
    if width is not None and d != width:
        raise InputError(f"vectors are {d} wide; the model takes {width}", path=path,
                         field="embedding")
    if d < 1:
        raise InputError("vectors have no values", path=path, field="embedding")
    flat = col.flatten()
    if flat.null_count:
        row = int(np.flatnonzero(flat.is_null().to_numpy(zero_copy_only=False))[0]) // d
        raise InputError("a value is missing (null)", path=path, line=row + 1,
                         field="embedding")
    vectors: np.ndarray = flat.to_numpy(zero_copy_only=False).astype(np.float32)
    vectors = vectors.reshape(-1, d)
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError("NaN or infinite values", path=path, line=row + 1, field="embedding")
    return vectors


def _check_labels(columns: dict[str, list[Any]], path: Path) -> None:
    """photo_id present and unique, split one of train/val/test on every row."""
    seen: set[str] = set()
    for i, pid in enumerate(columns["photo_id"]):
        if pid is None or str(pid) == "":
            raise InputError("no photo_id", path=path, line=i + 1, field="photo_id")
        if str(pid) in seen:
            raise InputError(f"photo_id {str(pid)!r} appears twice", path=path, line=i + 1,
                             field="photo_id")
        seen.add(str(pid))
    for i, split in enumerate(columns["split"]):
        if split not in SPLITS:
            what = "no split" if split is None or split == "" else f"split {split!r}"
            raise InputError(f"{what}: each row is one of {', '.join(SPLITS)}", path=path,
                             line=i + 1, field="split")


def read_external(path: str | Path, width: int | None = None) -> LabelledEmbeddings:
    """Read and check an embeddings Parquet file (``width``: the one a model expects)."""
    path = Path(path)
    table = _table(path)
    for name in REQUIRED:
        if name not in table.column_names:
            raise InputError(f"missing column '{name}'", path=path, field=name)
    vectors = _vectors(table, path, width)
    columns = {n: table.column(n).to_pylist() for n in table.column_names if n != "embedding"}
    _check_labels(columns, path)
    return LabelledEmbeddings(path, columns, vectors)


def read_store_labels(folder: Path, width: int | None = None) -> LabelledEmbeddings:
    """A store folder's labelled listing with each photo's vector from the store; photos
    the store has no vector for (they failed to decode) are left out and counted."""
    from fieldguide.embeddings.store import EmbeddingStore

    store = EmbeddingStore.open(folder)
    labels = folder / LABELS
    if not labels.is_file():
        raise InputError(f"this store has no {LABELS}: embed a labelled listing (a manifest "
                         "with taxon and split) into it, or export the vectors to the import "
                         "format", path=folder)
    table = _table(labels)
    for name in ("photo_id", "key", "taxon", "split"):
        if name not in table.column_names:
            raise InputError(f"missing column '{name}'", path=labels, field=name)
    columns = {n: table.column(n).to_pylist() for n in table.column_names}
    _check_labels(columns, labels)
    if width is not None and store.width != width:
        raise InputError(f"vectors are {store.width} wide; the model takes {width}",
                         path=folder, field="embedding")
    vectors, found = store.gather([str(k) for k in columns.pop("key")])
    keep = np.flatnonzero(found)
    columns = {n: [v[i] for i in keep] for n, v in columns.items()}
    return LabelledEmbeddings(labels, columns, vectors[keep], store.identity.to_dict(),
                              int((~found).sum()))


def read_embeddings(path: str | Path, width: int | None = None) -> LabelledEmbeddings:
    """An embeddings Parquet file or a store folder with its labels, checked."""
    path = Path(path)
    return read_store_labels(path, width) if path.is_dir() else read_external(path, width)


def write_labels(folder: Path, columns: dict[str, list[Any]], keys: list[str]) -> Path:
    """Record the labelled listing a store was built from (its ``labels.parquet``): the
    photos' ids, store keys and label columns, so training can read the store as it reads
    the import format."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fieldguide.inputs.files import atomic_path

    table = pa.table({"key": keys, **{n: [None if v is None else str(v) for v in vals]
                                      for n, vals in columns.items()}})
    with atomic_path(folder / LABELS) as tmp:
        pq.write_table(table, tmp)
    return folder / LABELS


def heads_only_outputs(model: str | Path, embeddings: str | Path, split: str | None = None,
                       threads: int = 2) -> dict[str, np.ndarray]:
    """A heads-only model's outputs on an embeddings file (or labelled store), in its row
    order (of ``split`` only, when given): ``logits`` (the primary head), every head by name
    and ``embedding``, as :class:`fieldguide.identification.Classifier` gives a photo
    model's. The row order is ``read_embeddings(embeddings).photo_id``'s."""
    import onnxruntime as ort

    from fieldguide.models.card import read_card

    folder = Path(model)
    card = read_card(folder)
    if not card.heads_only:
        raise InputError("not a heads-only model (it takes photos, not embeddings)",
                         path=folder, field="embeddings_from")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.log_severity_level = 3
    onnx_path = folder / (card.onnx or "model.onnx")
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    width = session.get_inputs()[0].shape[-1]
    data = read_embeddings(embeddings, width if isinstance(width, int) else None)
    x = data.vectors[data.rows(split)] if split is not None else data.vectors
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(names, {"embedding": x}), strict=True))
    out = {n: np.asarray(v, dtype=np.float32) for n, v in got.items()}
    out["logits"] = out[card.primary.name]
    return out

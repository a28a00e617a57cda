"""The labelled photos of a curation manifest, read for training (torch-free): the photos,
their splits, one head per label column and the classes' lineage. A class seen outside train
but never in train is refused by name before any work."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.inputs.tables import read_columns
from fieldguide.models.card import HeadSpec
from fieldguide.taxonomy.ranks import MAIN_RANKS

if TYPE_CHECKING:
    from fieldguide.training.spec import TrainSpec



@dataclass
class Manifest:
    """The photos of a dataset and their labels per head (-1: not scored)."""

    photo_ids: list[str]
    paths: list[Path]  # empty for embeddings computed elsewhere (no photo files)
    splits: np.ndarray
    heads: list[HeadSpec]
    targets: np.ndarray  # (n, heads) int64 class indices, -1 where unlabelled
    taxonomy: dict[str, dict[str, str]] = field(default_factory=dict)

    def select(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.splits == split)

    def counts(self, head: int = 0, split: str = "train") -> np.ndarray:
        """Training photos per class of one head (imbalance, priors, reports)."""
        y = self.targets[self.select(split), head]
        return np.bincount(y[y >= 0], minlength=len(self.heads[head].classes))


def local_paths(cols: dict[str, list[Any]], base: Path, where: Path) -> list[Path]:
    """The manifest's photo files; refused before any work when some photos are known only
    by URL (an export not fetched yet), naming the command that fetches them."""
    raw = text_values(cols["path"])
    missing = sum(1 for p in raw if p is None)
    if missing:
        raise InputError(
            f"{missing} of {len(raw)} photos have no file on disk (only a URL): run "
            "`fieldguide photos fetch -s STUDY --dataset DATASET` first, then train or "
            "evaluate again", path=where, field="path")
    return [p if p.is_absolute() else base / p for p in (Path(str(v)) for v in raw)]


def text_values(values: list[Any]) -> list[str | None]:
    return [None if v is None or str(v) == "" else str(v) for v in values]


def read_manifest(path: Path, label: str = "taxon", *, label_kind: str = "species",
                  ranks: list[str] | None = None, traits: list[str] | None = None,
                  root: Path | None = None, max_per_class: int = 0) -> Manifest:
    """Read a curation manifest (Parquet/CSV: photo_id?, path, split, label columns).

    Relative paths are read from ``root`` (default: the manifest's folder); ``photo_id`` is the
    path when absent. Head classes are the labels seen in train, sorted.
    """
    path = Path(path)
    cols = read_columns(path, what="manifest")
    if "path" not in cols:
        raise InputError("missing column 'path'", path=path, field="path")
    labelled_columns(cols, path, label, ranks, traits)
    base = root if root is not None else path.parent
    paths = local_paths(cols, base, path)
    return labelled(cols, path, paths, label, label_kind=label_kind, ranks=ranks,
                    traits=traits, max_per_class=max_per_class)


def labelled_columns(cols: dict[str, list[Any]], path: Path, label: str,
                     ranks: list[str] | None, traits: list[str] | None) -> None:
    """Refuse a table without its ``split`` column or one of the label columns."""
    for needed in ("split", label, *(ranks or []), *(traits or [])):
        if needed not in cols:
            raise InputError(f"missing column '{needed}'", path=path, field=needed)


def labelled(cols: dict[str, list[Any]], path: Path, paths: list[Path] | None,
             label: str = "taxon", *, label_kind: str = "species",
             ranks: list[str] | None = None, traits: list[str] | None = None,
             max_per_class: int = 0) -> Manifest:
    """The heads, targets and lineage of a table's label columns (a manifest's, or an
    embeddings file's, whose photos have no ``paths``: its Manifest's are empty)."""
    labelled_columns(cols, path, label, ranks, traits)
    photo_ids = [str(v) for v in cols.get("photo_id", cols.get("path", []))]
    splits = np.array([str(s) for s in cols["split"]])
    if not (splits == "train").any():
        raise InputError("no photo has split 'train'", path=path, field="split")
    labels = text_values(cols[label])
    keep = np.ones(len(photo_ids), dtype=bool)
    if max_per_class > 0:
        seen: dict[tuple[str, str | None], int] = {}
        for i, (s, y) in enumerate(zip(splits, labels, strict=True)):
            seen[(s, y)] = seen.get((s, y), 0) + 1
            keep[i] = seen[(s, y)] <= max_per_class
    specs = [(label, label_kind)] + [(r, "rank") for r in ranks or []]
    specs += [(t, "trait") for t in traits or [] if t != label]
    heads, columns = [], []
    train = (splits == "train") & keep
    for column, kind in specs:
        values = text_values(cols[column])
        classes = sorted({v for v, t in zip(values, train, strict=True) if t and v is not None})
        unseen = sorted({v for v, k in zip(values, keep, strict=True) if k and v is not None}
                        - set(classes))
        if unseen:
            raise InputError(f"class {unseen[0]!r} has no training photo ({len(unseen)} such "
                             "class(es)); drop it or add training photos", path=path, field=column)
        index = {c: i for i, c in enumerate(classes)}
        columns.append([-1 if v is None else index[v] for v in values])
        heads.append(HeadSpec(column if kind != "species" else "taxon", kind, column,
                              tuple(classes)))
    taxonomy: dict[str, dict[str, str]] = {}
    if label_kind == "species":
        lineage = [c for c in MAIN_RANKS if c in cols and c != label]
        for i, name in enumerate(labels):
            if name is not None and train[i]:
                taxonomy.setdefault(name, {c: str(cols[c][i]) for c in lineage
                                           if text_values([cols[c][i]])[0] is not None})
    targets = np.asarray(columns, dtype=np.int64).T
    idx = np.flatnonzero(keep)
    return Manifest([photo_ids[i] for i in idx], [paths[i] for i in idx] if paths else [],
                    splits[idx], heads, targets[idx], taxonomy)


def load_data(spec: TrainSpec) -> Manifest:
    """The manifest a training spec names, read as its data table says."""
    d = spec.data
    return read_manifest(spec.resolve(d.manifest), d.label, label_kind=d.label_kind,
                         ranks=d.ranks, traits=d.traits,
                         root=spec.resolve(d.root) if d.root else None,
                         max_per_class=d.max_per_class)

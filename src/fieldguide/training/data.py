"""Manifest -> labelled photos -> batches. A photo that does not decode is skipped and counted;
a class seen outside train but never in train is refused by name before any work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from fieldguide.errors import InputError
from fieldguide.models.heads import HeadSpec
from fieldguide.models.pixels import Crop, crop_pixels, open_image

RANK_COLUMNS = ("kingdom", "phylum", "class", "order", "family", "genus", "species")


@dataclass
class Manifest:
    """The photos of a dataset and their labels per head (-1: not scored)."""

    photo_ids: list[str]
    paths: list[Path]
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


def read_table(path: Path) -> dict[str, list[Any]]:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError("manifest not found", path=path)
    if path.suffix == ".parquet":
        table = pq.read_table(path)
    else:
        opts = pcsv.ConvertOptions(strings_can_be_null=True)
        table = pcsv.read_csv(path, convert_options=opts)
    return {name: table.column(name).to_pylist() for name in table.column_names}


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
    cols = read_table(path)
    for needed in ("path", "split", label, *(ranks or []), *(traits or [])):
        if needed not in cols:
            raise InputError(f"missing column '{needed}'", path=path, field=needed)
    base = root if root is not None else path.parent
    paths = local_paths(cols, base, path)
    photo_ids = [str(v) for v in cols.get("photo_id", cols["path"])]
    splits = np.array([str(s) for s in cols["split"]])
    if not (splits == "train").any():
        raise InputError("no photo has split 'train'", path=path, field="split")
    labels = text_values(cols[label])
    keep = np.ones(len(paths), dtype=bool)
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
        lineage = [c for c in RANK_COLUMNS if c in cols and c != label]
        for i, name in enumerate(labels):
            if name is not None and train[i]:
                taxonomy.setdefault(name, {c: str(cols[c][i]) for c in lineage
                                           if text_values([cols[c][i]])[0] is not None})
    targets = np.asarray(columns, dtype=np.int64).T
    idx = np.flatnonzero(keep)
    return Manifest([photo_ids[i] for i in idx], [paths[i] for i in idx], splits[idx], heads,
                    targets[idx], taxonomy)


class PhotoDataset(Dataset[Any]):
    """Decoded, transformed photos with their targets; ``None`` for a photo that fails
    (``fieldguide.models.pixels`` decides what fails, for training and identification alike)."""

    def __init__(self, paths: list[Path], targets: np.ndarray,
                 transform: Callable[[Path], torch.Tensor]) -> None:
        self.paths, self.targets, self.transform = paths, targets, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int] | None:
        try:
            image = self.transform(self.paths[i])
        except InputError:  # missing, unreadable, truncated, not an image, over the limits
            return None
        return image, torch.from_numpy(self.targets[i]), i


@dataclass
class Batch:
    images: torch.Tensor
    targets: torch.Tensor  # (batch, heads)
    indices: torch.Tensor
    skipped: int


def collate(items: list[tuple[torch.Tensor, torch.Tensor, int] | None]) -> Batch:
    """Stack the photos that decoded; count the others (runs in the workers)."""
    good = [it for it in items if it is not None]
    skipped = len(items) - len(good)
    if not good:
        return Batch(torch.empty(0), torch.empty(0, dtype=torch.long), torch.empty(0), skipped)
    return Batch(torch.stack([g[0] for g in good]), torch.stack([g[1] for g in good]),
                 torch.tensor([g[2] for g in good]), skipped)


class Normaliser:
    """uint8 batches -> normalised float on the model's device, in its memory format."""

    def __init__(self, prep: dict[str, Any], device: torch.device | str = "cpu",
                 channels_last: bool = False) -> None:
        self.mean = torch.tensor(prep["mean"], dtype=torch.float32, device=device)
        self.std = torch.tensor(prep["std"], dtype=torch.float32, device=device)
        self.mean, self.std = self.mean.view(1, 3, 1, 1) * 255, self.std.view(1, 3, 1, 1) * 255
        self.device = torch.device(device)
        self.format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True).float()
        return x.sub_(self.mean).div_(self.std).contiguous(memory_format=self.format)


def eval_transform(prep: dict[str, Any]) -> Callable[[Path], torch.Tensor]:
    """The evaluation crop (CHW uint8): the very pixels identification gives ONNX Runtime."""
    crop = Crop.from_card(prep)
    return lambda path: torch.from_numpy(
        np.ascontiguousarray(crop_pixels(path, crop).transpose(2, 0, 1)))


def train_transform(prep: dict[str, Any], scale_min: float, ratio: list[float], hflip: bool,
                    color_jitter: float) -> Callable[[Any], torch.Tensor]:
    """Random-resized crop with aspect-ratio jitter (Szegedy et al.; iNat2017), flip, jitter;
    uint8 out (``Normaliser`` finishes on the batch)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import v2 as T

    steps: list[Any] = [T.RandomResizedCrop(
        int(prep["size"]), scale=(scale_min, 1.0), ratio=(ratio[0], ratio[1]),
        interpolation=InterpolationMode(prep["interpolation"]), antialias=True)]
    if hflip:
        steps.append(T.RandomHorizontalFlip())
    if color_jitter > 0:
        steps.append(T.ColorJitter(color_jitter, color_jitter, color_jitter))
    steps.append(T.PILToTensor())
    pipeline = T.Compose(steps)
    return lambda path: pipeline(open_image(path))

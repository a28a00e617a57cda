"""Labelled photos -> batches for PyTorch (the manifest itself is read by
``fieldguide.training.manifest``). A photo that does not decode is skipped and counted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from fieldguide.errors import InputError
from fieldguide.models.pixels import Crop, crop_pixels, open_image


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

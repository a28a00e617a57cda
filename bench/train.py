"""Training and embedding throughput per backbone: model-only (synthetic tensors) against
end-to-end (DataLoader decoding and augmenting the oxford_flowers12 JPEGs), eager against
channels-last (and torch.compile with --compile). Prints a Markdown table.

    python bench/train.py --quick            # a few minutes on a 2-core CPU
    python bench/train.py --compile --batches 10
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from fieldguide.models.registry import backbone_info, create_backbone
from fieldguide.training.data import (
    Normaliser,
    PhotoDataset,
    collate,
    eval_transform,
    train_transform,
)
from fieldguide.training.manifest import read_manifest

DATA = Path(__file__).resolve().parents[2] / "shared/data/images/oxford_flowers12/labels.csv"
BACKBONES = ("tf_efficientnet_lite0", "resnet18", "mobilenetv3_large_100")


def _rate(step: Callable[[], int], batches: int) -> float:
    """Images per second over ``batches`` steps after one warm-up step."""
    step()
    start, seen = time.perf_counter(), 0
    for _ in range(batches):
        seen += step()
    return seen / (time.perf_counter() - start)


def _loader(paths: list[Path], prep: dict[str, Any], train: bool, batch: int,
            workers: int) -> Iterator[Any]:
    transform = train_transform(prep, 0.35, [0.75, 4 / 3], True, 0.0) if train else \
        eval_transform(prep)
    ds = PhotoDataset(paths, np.zeros((len(paths), 1), dtype=np.int64), transform)
    loader = DataLoader(ds, batch_size=batch, shuffle=train, num_workers=workers,
                        collate_fn=collate, persistent_workers=workers > 0, prefetch_factor=4
                        if workers else None)
    return itertools.chain.from_iterable(itertools.repeat(loader))


def bench_backbone(name: str, variant: str, paths: list[Path], args: argparse.Namespace
                   ) -> dict[str, Any]:
    prep = backbone_info(name).preprocessing.to_dict()
    size = prep["size"]
    model: Any = create_backbone(name, num_classes=12)
    fmt = torch.channels_last if variant != "eager" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    run = torch.compile(model) if variant == "compile" else model
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    y = torch.zeros(args.batch, dtype=torch.long)

    def train_step(x: torch.Tensor) -> int:
        model.train()
        loss = torch.nn.functional.cross_entropy(run(x.to(memory_format=fmt)), y[: len(x)])
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        return len(x)

    @torch.no_grad()
    def embed_step(x: torch.Tensor) -> int:
        model.eval()
        run(x.to(memory_format=fmt))
        return len(x)

    synthetic = torch.randn(args.batch, 3, size, size)
    norm = Normaliser(prep)
    row: dict[str, Any] = {"backbone": name, "variant": variant, "size": size}
    row["train_model"] = _rate(lambda: train_step(synthetic), args.batches)
    stream = _loader(paths, prep, True, args.batch, args.workers)
    row["train_e2e"] = _rate(lambda: train_step(norm(next(stream).images)), args.batches)
    row["embed_model"] = _rate(lambda: embed_step(synthetic), args.batches)
    stream = _loader(paths, prep, False, args.batch, args.workers)
    row["embed_e2e"] = _rate(lambda: embed_step(norm(next(stream).images)), args.batches)
    return row


def bench_data(paths: list[Path], args: argparse.Namespace) -> float:
    """Decode + augment alone: how fast the pipeline could feed a model."""
    prep = backbone_info("tf_efficientnet_lite0").preprocessing.to_dict()
    stream = _loader(paths, prep, True, args.batch, args.workers)
    return _rate(lambda: len(next(stream).images), args.batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 batches, eager + channels-last")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--backbones", nargs="*", default=list(BACKBONES))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--manifest", type=Path, default=DATA)
    args = parser.parse_args()
    if args.quick:
        args.batches = 3
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    paths = read_manifest(args.manifest, "label").paths
    variants = ["eager", "channels_last"] + (["compile"] if args.compile else [])
    device = "CPU" if not torch.cuda.is_available() else torch.cuda.get_device_name()
    print(f"device: {device}, torch threads {args.threads}, loader workers {args.workers}, "
          f"batch {args.batch}, {args.batches} timed batches")
    print(f"data pipeline alone (decode + augment, 224): {bench_data(paths, args):.1f} img/s\n")
    print("| backbone | px | variant | train model-only | train end-to-end | e2e/model "
          "| embed model-only | embed end-to-end | e2e/model |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.backbones:
        for variant in variants:
            r = bench_backbone(name, variant, paths, args)
            print(f"| {name} | {r['size']} | {variant} | {r['train_model']:.1f} "
                  f"| {r['train_e2e']:.1f} | {r['train_e2e'] / r['train_model']:.2f} "
                  f"| {r['embed_model']:.1f} | {r['embed_e2e']:.1f} "
                  f"| {r['embed_e2e'] / r['embed_model']:.2f} |", flush=True)


if __name__ == "__main__":
    main()

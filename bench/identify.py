"""Identification benchmark: the naive loop of seed 000 (PIL full decode, torch eager, one
photo at a time) against the fast path (reduced-scale JPEG decoding on threads overlapping
batched ONNX Runtime), end to end and model only, plus int8 against fp32.

    python bench/identify.py --model ARTEFACT [--quick]

Photos: the Oxford flowers upscaled to 1024x768 with varied EXIF orientation, written to a
temporary folder. The machine is shared: the load and the busiest other processes are printed,
and the ratios (measured in one run, interleaved) matter more than absolute rates.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from fieldguide.identification import Classifier, Rule, RunOptions, annotate, read_photos
from fieldguide.identification.calibration import labelled_logits
from fieldguide.identification.quantise import quantise
from fieldguide.models.pixels import Crop, load_crop, normalise, open_image, resize_crop

#: The real sample photos, found beside the repository (../shared), never by an absolute path.
FLOWERS = Path(__file__).resolve().parents[1] / "../shared/data/images/oxford_flowers12"
ORIENTATIONS = (1, 3, 6, 8, 1, 2, 1, 6)


def make_photos(folder: Path, n: int) -> list[str]:
    """n 1024x768 JPEGs made from the flower photos, with varied EXIF orientation."""
    sources = sorted(FLOWERS.glob("*/*/*.jpg"))

    def one(i: int) -> str:
        exif = Image.Exif()
        exif[0x0112] = ORIENTATIONS[i % len(ORIENTATIONS)]
        with Image.open(sources[i % len(sources)]) as im:
            big = im.convert("RGB").resize((1024, 768), Image.Resampling.BICUBIC)
        path = folder / f"photo_{i:05d}.jpg"
        big.save(path, quality=90, exif=exif)
        return str(path)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, range(n)))


def rate(n: int, fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def naive(model_dir: Path, paths: list[str]) -> tuple[float, float]:
    """Seed 000's loop: open, decode in full, transform, one forward pass per photo."""
    import torch

    from fieldguide.models import load_model

    torch.set_num_threads(2)
    net, card = load_model(model_dir)
    prep = card.preprocessing
    crop = Crop.from_card(prep)

    def eval_array(path: str) -> np.ndarray:
        pixels = np.asarray(resize_crop(open_image(path), crop), dtype=np.uint8)[None]
        return normalise(pixels, prep.mean, prep.std)

    def loop(todo: list[str] = paths) -> None:
        with torch.no_grad():
            for p in todo:
                net(torch.from_numpy(eval_array(p)))

    x = torch.from_numpy(eval_array(paths[0]))

    def model_only() -> None:
        with torch.no_grad():
            for _ in paths:
                net(x)

    loop(paths[:5])  # warm-up
    return rate(len(paths), loop), rate(len(paths), model_only)


def model_rate(clf: Classifier, crops: np.ndarray, batch: int = 32) -> float:
    clf.logits(crops[:batch])

    def run() -> None:
        for i in range(0, len(crops), batch):
            clf.logits(crops[i:i + batch])

    return rate(len(crops), run)


def top1(clf: Classifier) -> float:
    test = read_photos(FLOWERS / "labels.csv", "test")
    logits, y = labelled_logits(test, clf, RunOptions())
    return float(np.mean(logits.argmax(1) == y))


def machine() -> str:
    """The load and the busiest processes other than this one (a shared machine)."""
    import psutil

    def cpu(p: psutil.Process) -> float:
        try:
            return float(p.cpu_percent(None))
        except psutil.Error:
            return 0.0

    procs = [p for p in psutil.process_iter(["name"]) if p.pid != os.getpid()]
    for p in procs:
        cpu(p)
    time.sleep(1.0)
    busy = sorted(((cpu(p), p) for p in procs), key=lambda t: -t[0])[:3]
    names = ", ".join(f"{p.info['name']} {c:.0f}%" for c, p in busy if c > 5) or "none"
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; busy: {names}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True, help="artefact with model.onnx")
    ap.add_argument("--quick", action="store_true", help="200 photos, 40 for the naive loop")
    ap.add_argument("--photos", type=int, default=2000)
    ap.add_argument("--naive", type=int, default=150, help="photos the naive loop times")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    n, n_naive = (200, 40) if args.quick else (args.photos, args.naive)
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        paths = make_photos(folder, n)
        print(f"made {n} photos 1024x768 in {time.perf_counter() - t0:.0f} s")
        clf = Classifier(args.model, args.threads)
        crops = np.stack([c for c in (load_crop(p, clf.crop) for p in paths[:256])
                          if not isinstance(c, str)])
        fast_model = model_rate(clf, crops)
        naive_e2e, naive_model = naive(args.model, paths[:n_naive])
        listing = folder / "photos.csv"
        listing.write_text("photo_id,path\n" + "".join(f"{i},{p}\n" for i, p in enumerate(paths)))
        photos = read_photos(listing)
        options = RunOptions(batch_size=32, decode_workers=args.threads)
        fast = rate(n, lambda: annotate(photos, clf, folder / "work", rule=Rule(),
                                        options=options))
        fast_model_again = model_rate(clf, crops)
        static = quantise(args.model, "static", paths[:128], folder / "static.onnx")
        dynamic = quantise(args.model, "dynamic", out=folder / "dynamic.onnx")
        int8 = {name: Classifier(args.model, args.threads, path)
                for name, path in (("static QDQ", static), ("dynamic", dynamic))}
        fp32_top1 = top1(clf)
        model_fp32 = (fast_model + fast_model_again) / 2
        print(f"\n| path | end to end (images/s) | model only (images/s) |\n|---|---|---|\n"
              f"| naive: PIL full decode + torch eager, batch 1 | {naive_e2e:.1f} | "
              f"{naive_model:.1f} |\n| fast: draft decode on threads + ORT batch 32 | "
              f"{fast:.1f} | {model_fp32:.1f} (runs {fast_model:.1f}, {fast_model_again:.1f}) |")
        print(f"\nfast / naive end to end: {fast / naive_e2e:.1f}x (target >= 5x); "
              f"fast end to end / ORT model only: {fast / model_fp32:.0%} (target >= 80%)")
        print(f"\n| ONNX model | model only (images/s) | speed-up | top-1 (240 test) | size MB |"
              f"\n|---|---|---|---|---|\n| fp32 | {model_fp32:.1f} | 1.00x | {fp32_top1:.4f} | "
              f"{clf.path.stat().st_size / 1e6:.1f} |")
        for name, q in int8.items():
            r = (model_rate(q, crops) + model_rate(q, crops)) / 2
            again = model_rate(clf, crops)
            print(f"| int8 {name} | {r:.1f} | {r / again:.2f}x (fp32 now {again:.1f}) | "
                  f"{top1(q):.4f} | {q.path.stat().st_size / 1e6:.1f} |")
    print(f"\n{machine()}")


if __name__ == "__main__":
    main()

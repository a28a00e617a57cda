"""Rejection benchmark (issue #12): a linear probe on EfficientNet-Lite0 trained on 8 of the
12 Oxford flower classes; its fitted rejection scored on the in-distribution test photos, the
4 held-out classes (near look-alikes) and non-nature images (scikit-image's samples plus flat,
noise, blurred and dark photos made here). One AUROC row per score alone and the combination,
and the rejection rates at the threshold fitted for 5% false rejection.

    python bench/reject.py [--quick] [--work DIR]

``--quick`` trains at 96 px on 20 photos per class (a smoke run; the figures are not the
benchmark's). The full run trains at 224 px on every photo (about 2 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

#: The real sample photos, found beside the repository (../shared), never by an absolute path.
FLOWERS = Path(__file__).resolve().parents[1] / "../shared/data/images/oxford_flowers12"
HELD_OUT = ("buttercup", "colts-foot", "tigerlily", "windflower")
SAMPLES = ("astronaut", "brick", "camera", "cat", "checkerboard", "chelsea", "clock", "coffee",
           "coins", "colorwheel", "hubble_deep_field", "immunohistochemistry", "logo", "moon",
           "page", "retina", "rocket", "text", "gravel")


def manifest(folder: Path, per_class: int) -> Path:
    """8 known classes: train (3 in 4 of the folder's train photos), val (1 in 4), test;
    the held-out classes' photos get split "unknown"."""
    rows: list[dict[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    with (FLOWERS / "labels.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            label, split = r["label"], r["split"]
            seen[(label, split)] = n = seen.get((label, split), 0) + 1
            if per_class and n > per_class:
                continue
            if label in HELD_OUT:  # unlabelled: the probe must never see their class
                split, label = "unknown", ""
            elif split == "train" and n % 4 == 0:
                split = "val"
            rows.append({"photo_id": r["path"], "path": str((FLOWERS / r["path"]).resolve()),
                         "taxon": label, "split": split})
    out = folder / "manifest.csv"
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def far_images(folder: Path, flowers: list[str]) -> list[str]:
    """scikit-image's sample images and photos made here: flat colours, noise, blurred and
    dark flowers."""
    import skimage.data

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images: dict[str, Image.Image] = {}
    for name in SAMPLES:
        a = np.asarray(getattr(skimage.data, name)())
        images[name] = Image.fromarray(a).convert("RGB")
    for i, colour in enumerate([(128, 128, 128), (30, 120, 40), (240, 240, 240), (200, 40, 40)]):
        images[f"flat{i}"] = Image.new("RGB", (300, 300), colour)
    for i in range(4):
        images[f"noise{i}"] = Image.fromarray(rng.integers(0, 256, (300, 300, 3), np.uint8))
    for i, path in enumerate(flowers[:4]):
        im = Image.open(path).convert("RGB")
        images[f"blurred{i}"] = im.filter(ImageFilter.GaussianBlur(6))
        images[f"dark{i}"] = Image.fromarray((np.asarray(im) * 0.06).astype(np.uint8))
    paths = []
    for name, im in images.items():
        im.save(folder / f"{name}.jpg", quality=92)
        paths.append(str(folder / f"{name}.jpg"))
    return paths


def train(listing: Path, out: Path, quick: bool, backbone: str | list[str] = "lite0",
          cache: Path | None = None) -> Path:
    from fieldguide.training import parse_spec
    from fieldguide.training import train as run

    spec = parse_spec({
        "name": "reject-bench", "mode": "linear-probe", "seed": 0,
        "data": {"manifest": str(listing), "label": "taxon", "workers": 0},
        "model": {"backbone": backbone, "weights": "imagenet",
                  "image_size": 96 if quick else 0},
        "probe": {"cache": str(cache) if cache else ""},
        "run": {"progress": False, "threads": 2}})
    return run(spec, out).model_dir or out / "model"


def measure(model_dir: Path, listing: Path, far: list[str], work: Path) -> dict[str, object]:
    """AUROC of every score and the combination, rates at the fitted threshold."""
    from fieldguide.identification import Classifier, RunOptions, run_outputs
    from fieldguide.identification.inputs import read_photos
    from fieldguide.identification.rejector import load_rejector
    from fieldguide.identification.rejector_fit import auroc, fit_model_rejector

    report = fit_model_rejector(model_dir, listing)
    clf = Classifier(model_dir)
    rej = load_rejector(clf)
    wanted = ("logits", *rej.outputs)
    groups: dict[str, dict[str, np.ndarray]] = {}
    for name in ("test", "unknown"):
        photos = read_photos(listing, name)
        groups[name] = run_outputs(photos, clf, work / name, RunOptions(), wanted)[0]
    far_photos = read_photos(_listing(work / "far.csv", far), None)
    groups["far"] = run_outputs(far_photos, clf, work / "far", RunOptions(), wanted)[0]
    table: dict[str, dict[str, float]] = {}
    decision = {}
    for name, out in groups.items():
        result = rej.reject(out, np.ones(len(out["logits"]), dtype=bool))
        unusable = np.array([r.startswith("not usable") for r in result.reason])
        decision[name] = (np.where(unusable, np.inf, result.ood_score), result.rejected,
                          rej.model.scores(out, rej.names))
    for j, score in enumerate(rej.names):
        table[score] = {k: auroc(decision["test"][2][:, j], decision[k][2][:, j])
                        for k in ("far", "unknown")}
    table["combined"] = {k: auroc(decision["test"][0], decision[k][0]) for k in ("far", "unknown")}
    rates = {k: float(v[1].mean()) for k, v in decision.items()}
    return {"table": table, "rates": rates, "fit": report}


def _listing(path: Path, paths: list[str]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["photo_id", "path"])
        writer.writerows([[Path(p).stem, p] for p in paths])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        listing = manifest(work, 20 if args.quick else 0)
        model = work / "run" / "model"
        if not (model / "model.onnx").is_file():
            model = train(listing, work / "run", args.quick)
        flowers = [r["path"] for r in csv.DictReader(listing.open()) if r["split"] == "test"]
        result = measure(model, listing, far_images(work / "far", flowers), work / "scores")
        print("| score | AUROC non-nature | AUROC held-out flowers |\n|---|---|---|")
        for name, row in result["table"].items():  # type: ignore[attr-defined]
            print(f"| {name} | {row['far']:.3f} | {row['unknown']:.3f} |")
        rates = result["rates"]
        print(f"\nrejected at the 5% threshold: test (known) {rates['test']:.1%}, "  # type: ignore[index]
              f"held-out flowers {rates['unknown']:.1%}, non-nature {rates['far']:.1%}")  # type: ignore[index]
        print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

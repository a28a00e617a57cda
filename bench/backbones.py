"""Backbones benchmark (issue #16): every registered backbone, and a concatenation, as a linear
probe on the 12 Oxford flower classes (the folder's own 240 test photos; its 720 training
photos split 3:1 into train and validation by each seed).

Per option: probe top-1 on the test split (mean and spread of 3 seeds), ECE on the test split
after the temperature is fitted on validation, rejection AUROC by the trust issue's protocol
(``bench/reject.py``: a probe on 8 classes, the 4 held-out flower classes and non-nature
images), the leave-one-out top-5 kNN purity of the embeddings (the search issue's), images/s
of identification end to end (decode, crop, ONNX Runtime, 2 threads) and the model's size.

    python bench/backbones.py [--quick] [--work DIR] [--options lite0,dinov2-s14]

``--quick``: 10 photos per class and lite0 and dinov2-s14 only (a smoke run; the figures are
not the benchmark's). The full run takes about 15 minutes on 2 cores, most of it embedding.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reject

FLOWERS = reject.FLOWERS
OPTIONS = {"lite0": ["lite0"], "lite1": ["lite1"], "lite2": ["lite2"],
           "dinov2-s14": ["dinov2-s14"], "lite2+dinov2-s14": ["lite2", "dinov2-s14"]}
SEEDS = (0, 1, 2)


def listing(per_class: int) -> list[dict[str, str]]:
    rows, seen = [], {}
    with (FLOWERS / "labels.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            seen[(r["label"], r["split"])] = n = seen.get((r["label"], r["split"]), 0) + 1
            if per_class and n > per_class:
                continue
            rows.append({"photo_id": r["path"], "path": str((FLOWERS / r["path"]).resolve()),
                         "taxon": r["label"], "split": r["split"]})
    return rows


def seed_splits(rows: list[dict[str, str]], seed: int) -> np.ndarray:
    """train/val/test per row: a quarter of each class's training photos to validation."""
    rng = np.random.default_rng(seed)
    split = np.array([r["split"] for r in rows], dtype=object)
    labels = np.array([r["taxon"] for r in rows])
    for label in sorted(set(labels)):
        idx = np.flatnonzero((labels == label) & (split == "train"))
        split[rng.permutation(idx)[: len(idx) // 4]] = "val"
    return split


def write_manifest(rows: list[dict[str, str]], split: np.ndarray, path: Path) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "split": s} for r, s in zip(rows, split, strict=True))
    return path


def knn_purity(feats: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Share of each photo's k nearest others (cosine) of its own species."""
    unit = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    top = np.argsort(-sim, axis=1)[:, :k]
    return float((labels[top] == labels[:, None]).mean())


def probe_scores(feats: np.ndarray, rows: list[dict[str, str]], classes: list[str]
                 ) -> list[tuple[float, float, float]]:
    """(test top-1, test ECE after calibration, temperature) per seed, by the probe fit that
    ``fieldguide train`` uses."""
    from fieldguide.identification.calibration import ece, fit_temperature
    from fieldguide.models.card import HeadSpec
    from fieldguide.training.probe import fit_linear_heads, head_logits
    from fieldguide.training.spec import ProbeSpec

    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[r["taxon"]] for r in rows])
    head = [HeadSpec("taxon", "species", "taxon", tuple(classes))]
    probe = ProbeSpec()
    out = []
    for seed in SEEDS:
        split = seed_splits(rows, seed)
        tr, va, te = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
        fit = fit_linear_heads(feats[tr], y[tr, None], head, {}, l2=probe.l2,
                               max_iter=probe.max_iter)
        val, test = head_logits(fit, feats[va], "taxon"), head_logits(fit, feats[te], "taxon")
        t = fit_temperature(val, y[va])
        z = test / t
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        out.append((float((test.argmax(1) == y[te]).mean()), ece(p, y[te]), t))
    return out


def throughput(model_dir: Path, rows: list[dict[str, str]], work: Path, n: int = 64) -> float:
    """Photos per second through identification's runner (decode, crop, ONNX Runtime)."""
    from fieldguide.identification import Classifier, RunOptions, run_outputs
    from fieldguide.identification.inputs import Photos, read_photos

    test = [r for r in rows if r["split"] == "test"][:n]

    def photos(name: str, some: list[dict[str, str]]) -> Photos:
        path = work / f"{name}.csv"
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["photo_id", "path"])
            writer.writeheader()
            writer.writerows({"photo_id": r["photo_id"], "path": r["path"]} for r in some)
        return read_photos(path)

    clf = Classifier(model_dir, threads=2)
    run_outputs(photos("warm", test[:8]), clf, work / "warm", RunOptions())
    timed = photos("speed", test)
    start = time.perf_counter()
    run_outputs(timed, clf, work / "timed", RunOptions(), ("logits", "embedding"))
    return len(test) / (time.perf_counter() - start)


def measure(name: str, names: list[str], rows: list[dict[str, str]], work: Path,
            cache: Path, quick: bool) -> dict[str, object]:
    from fieldguide.models.registry import backbone_info
    from fieldguide.training import parse_spec, predict_split, train
    from fieldguide.training.encoder_probe import embed_with_encoders

    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    prep = backbone_info(names[0]).preprocessing
    _, parts, ok = embed_with_encoders(names, prep, [Path(r["path"]) for r in rows], cache)
    embed_s = time.perf_counter() - start
    assert ok.all(), "a flower photo did not decode"
    feats = np.concatenate(parts, axis=1)
    classes = sorted({r["taxon"] for r in rows})
    scores = probe_scores(feats, rows, classes)
    labels = np.array([r["taxon"] for r in rows])
    # the real artefact (seed 0): fieldguide train on encoders, evaluated through model.onnx
    manifest = write_manifest(rows, seed_splits(rows, 0), folder / "manifest.csv")
    spec = parse_spec({"name": f"bench-{name}", "mode": "linear-probe",
                       "data": {"manifest": str(manifest), "label": "taxon"},
                       "model": {"backbone": names if len(names) > 1 else names[0]},
                       "probe": {"cache": str(cache)},
                       "run": {"progress": False}})
    if len(names) == 1 and backbone_info(names[0]).fine_tunes:
        # one timm backbone trains through PyTorch; the bench scores the same net as ONNX
        from fieldguide.training.encoder_probe import train_on_encoders

        result = train_on_encoders(spec, folder / "run")
    else:
        result = train(spec, folder / "run")
    assert result.model_dir is not None
    pred = predict_split(result.model_dir, manifest, "test")
    onnx_top1 = float((pred.probs.argmax(1) == pred.y_true).mean())
    speed = throughput(result.model_dir, rows, folder)
    size = (result.model_dir / "model.onnx").stat().st_size / 2**20
    # rejection: the trust issue's protocol, with this backbone
    held = folder / "reject"
    held.mkdir(exist_ok=True)
    held_listing = reject.manifest(held, 10 if quick else 0)
    model = reject.train(held_listing, held / "run", False, names if len(names) > 1
                         else names[0], cache)
    flowers = [r["path"] for r in csv.DictReader(held_listing.open()) if r["split"] == "test"]
    rej = reject.measure(model, held_listing, reject.far_images(held / "far", flowers),
                         held / "scores")
    combined = rej["table"]["combined"]  # type: ignore[index]
    top1 = np.array([s[0] for s in scores])
    return {"top1": top1.mean(), "top1_sd": top1.std(), "top1_seeds": top1,
            "onnx_top1": onnx_top1, "ece": float(np.mean([s[1] for s in scores])),
            "T": float(np.mean([s[2] for s in scores])),
            "auroc_far": combined["far"], "auroc_unknown": combined["unknown"],
            "purity": knn_purity(feats, labels), "speed": speed, "size": size,
            "width": feats.shape[1], "embed_s": embed_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--options", default="")
    args = parser.parse_args()
    chosen = args.options.split(",") if args.options else (
        ["lite0", "dinov2-s14"] if args.quick else list(OPTIONS))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = listing(10 if args.quick else 0)
        results = {}
        for name in chosen:
            start = time.perf_counter()
            results[name] = measure(name, OPTIONS[name], rows, work, work / "cache", args.quick)
            print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
        print(f"{sum(r['split'] == 'test' for r in rows)} test photos, seeds {SEEDS}\n")
        print("| backbone | width | probe top-1 (mean ± sd of 3 seeds) | top-1 via model.onnx "
              "(seed 0) | ECE after T | T | AUROC non-nature | AUROC held-out flowers | "
              "kNN top-5 purity | images/s end to end | model.onnx MB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        base = results[chosen[0]]["speed"]
        for name, r in results.items():
            seeds = " ".join(f"{v:.4f}" for v in r["top1_seeds"])  # type: ignore[attr-defined]
            print(f"| {name} | {r['width']} | {r['top1']:.4f} ± {r['top1_sd']:.4f} ({seeds}) | "
                  f"{r['onnx_top1']:.4f} | {r['ece']:.4f} | {r['T']:.3f} | "
                  f"{r['auroc_far']:.3f} | {r['auroc_unknown']:.3f} | {r['purity']:.3f} | "
                  f"{r['speed']:.1f} ({r['speed'] / base:.2f}x) | {r['size']:.1f} |")  # type: ignore[operator]


if __name__ == "__main__":
    main()

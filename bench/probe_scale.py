"""The linear-head fit at scale: synthetic taxonomy-shaped embeddings, 1K to 10K classes.

Species are clustered in genera (a genus centre plus a species offset plus photo noise, on a
1280-wide embedding), class sizes are long-tailed (Zipf-like), and every size is generated
shard by shard into a temporary folder as ``.npy`` files read back memory-mapped, so neither
the generator nor the fit holds the whole set. Each size runs in its own child process (peak
RSS is that process's ``ru_maxrss``): the fit of ``fieldguide.training.probe`` (mini-batch
SGD) and, where they fit in memory and time, scikit-learn's LogisticRegression and
SGDClassifier on the same rows with the same L2 (C = 1 / (2 l2 n)); the fit's peak RSS is read
as soon as it returns (generation + fit, not the scoring). Also printed: the
machine's float32 GEMM rate on the fit's shapes and the fit's share of it.

    .venv/bin/python bench/probe_scale.py --quick
    .venv/bin/python bench/probe_scale.py --sizes 50Kx1K,200Kx1K
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {"20Kx1K": (20_000, 1_000), "50Kx1K": (50_000, 1_000), "200Kx1K": (200_000, 1_000),
         "200Kx10K": (200_000, 10_000), "1Mx10K": (1_000_000, 10_000)}
QUICK = {"4Kx200": (4_000, 200)}
WIDTH = 1280
SHARD = 50_000
SKLEARN_BYTES = 8e9  # run scikit-learn only where its float64 copies fit in 8 GB
SKLEARN_WORK = 5e13  # ... and its estimated work (rows x width x classes x passes) an hour
BATCH = 4096
NOISE = 2.5  # photo noise per dimension (a species offset is 0.6, a genus centre 1)


def classes_and_sizes(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Long-tailed class sizes summing to n, every class at least 5 photos."""
    weight = 1.0 / np.arange(1, k + 1) ** 0.8
    weight = rng.permutation(weight)
    counts = 5 + np.floor(weight / weight.sum() * (n - 5 * k)).astype(int)
    counts[: n - counts.sum()] += 1
    return counts


def generate(folder: Path, n: int, k: int, seed: int = 0) -> tuple[list[Path], Path, Path, Path]:
    """Training shards, one validation and one test array (.npy), and their labels."""
    rng = np.random.default_rng(seed)
    genera = max(k // 10, 1)
    genus_of = rng.integers(0, genera, k)
    g_centre = rng.normal(size=(genera, WIDTH)).astype(np.float32)
    centre = (g_centre[genus_of] + 0.6 * rng.normal(size=(k, WIDTH))).astype(np.float32)
    counts = classes_and_sizes(k, n, rng)
    labels = rng.permutation(np.repeat(np.arange(k), counts))
    paths = []
    for i, a in enumerate(range(0, n, SHARD)):
        y = labels[a:a + SHARD]
        x = centre[y] + NOISE * rng.normal(size=(len(y), WIDTH)).astype(np.float32)
        path = folder / f"train-{i:04d}.npy"
        np.save(path, x.astype(np.float32))
        paths.append(path)
    np.save(folder / "train-labels.npy", labels)
    held = min(max(n // 10, 5_000), 50_000)
    for name, count in (("val", held // 2), ("test", held)):
        y = rng.choice(k, size=count, p=counts / counts.sum())
        np.save(folder / f"{name}.npy",
                (centre[y] + NOISE * rng.normal(size=(count, WIDTH))).astype(np.float32))
        np.save(folder / f"{name}-labels.npy", y)
    return paths, folder / "val.npy", folder / "test.npy", folder / "train-labels.npy"


def scores(z: np.ndarray, y: np.ndarray, k: int) -> dict[str, float]:
    """Top-1, top-5 and average recall (mean per-class recall over classes in y)."""
    top5 = np.concatenate([np.argpartition(-z[a:a + 4096], min(5, z.shape[1]) - 1,
                                           axis=1)[:, :5] for a in range(0, len(z), 4096)])
    pred = z.argmax(axis=1)
    present = np.unique(y)
    recall = np.bincount(y[pred == y], minlength=k)[present] / np.bincount(y, minlength=k)[present]
    return {"top1": float((pred == y).mean()), "top5": float((top5 == y[:, None]).any(1).mean()),
            "avg_recall": float(recall.mean())}


def predict(weights: np.ndarray, bias: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.concatenate([x[a:a + 8192] @ weights.T + bias for a in range(0, len(x), 8192)])


def gemm_rate(k: int, batch: int = BATCH, repeat: int = 5) -> float:
    """FLOP/s of float32 (batch x 1280) @ (1280 x k), best of ``repeat``."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(batch, WIDTH)).astype(np.float32)
    b = rng.normal(size=(WIDTH, k)).astype(np.float32)
    a @ b
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * batch * WIDTH * k / best


def run_ours(n: int, k: int, epochs: int, l2: float, budget: float) -> dict[str, object]:
    from fieldguide.models.card import HeadSpec
    from fieldguide.training.headfit import StreamOptions, fit_streaming

    with tempfile.TemporaryDirectory(prefix="probe-scale-") as tmp:
        t0 = time.perf_counter()
        paths, val, test, labels = generate(Path(tmp), n, k)
        made = time.perf_counter() - t0
        shards = [np.load(p, mmap_mode="r") for p in paths]
        y = np.load(labels)
        head = [HeadSpec("taxon", "species", "taxon", tuple(str(i) for i in range(k)))]
        val_x, val_y = np.load(val, mmap_mode="r"), np.load(str(val).replace(".npy", "-labels.npy"))
        t1 = time.perf_counter()
        fit = fit_streaming(shards, y[:, None], head, {}, l2=l2, val=(val_x, val_y[:, None]),
                            options=StreamOptions(epochs=epochs, batch_size=BATCH,
                                                  max_seconds=budget))
        took = time.perf_counter() - t1
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # generation + fit
        best = fit.best_epoch
        w, b = fit.heads["taxon"]
        test_y = np.load(str(test).replace(".npy", "-labels.npy"))
        got = scores(predict(w, b, np.load(test)), test_y, k)
    epochs = [r for r in fit.history if r["epoch"] > 0]
    epoch_s = [float(r["seconds"]) for r in epochs]
    trained = sum(int(r["train_rows"]) for r in epochs)
    return {"generate_s": made, "fit_s": took, "epochs": fit.epochs,
            "epochs_trained": trained / n, "rows_per_s": trained / sum(epoch_s),
            "epoch_s": float(np.median(epoch_s)), "best_epoch": best,
            "to_best_s": sum(epoch_s[:best]),
            "peak_rss_gb": peak, **got, "history": fit.history}


def run_sklearn(n: int, k: int, which: str, l2: float) -> dict[str, object]:
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    with tempfile.TemporaryDirectory(prefix="probe-scale-") as tmp:
        paths, _, test, labels = generate(Path(tmp), n, k)
        x = np.concatenate([np.load(p) for p in paths])
        y = np.load(labels)
        t = time.perf_counter()
        if which == "logreg":
            model = LogisticRegression(C=1.0 / (2 * l2 * n), max_iter=100)
        else:
            model = SGDClassifier(loss="log_loss", alpha=2 * l2, max_iter=5, tol=None,
                                  random_state=0)
        model.fit(x, y)
        took = time.perf_counter() - t
        test_y = np.load(str(test).replace(".npy", "-labels.npy"))
        z = model.decision_function(np.load(test))
        got = scores(z[:, np.searchsorted(model.classes_, np.arange(k))]
                     if len(model.classes_) == k else z, test_y, k)
    return {"fit_s": took, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            **got}


def child(args: list[str], timeout: float) -> dict[str, object]:
    """Run one measurement in a fresh process (its own peak RSS); None-like on failure."""
    try:
        out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                             text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"skipped": f"over {timeout:.0f} s"}
    except subprocess.CalledProcessError as exc:
        return {"skipped": f"failed: {exc.stderr.strip().splitlines()[-1:]}"}
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help="e.g. 50Kx1K,200Kx10K")
    parser.add_argument("--quick", action="store_true", help="one small size: a smoke run")
    parser.add_argument("--epochs", default="", help="max epochs per size, e.g. 1Mx10K=2")
    parser.add_argument("--budget", default="",
                        help="training seconds per size, e.g. 1Mx10K=900 (the epoch in "
                        "progress ends there; the table shows the epochs trained)")
    parser.add_argument("--l2", type=float, default=0.0,
                        help="L2 of the fit (0: 1/(2n), scikit-learn's default C = 1)")
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--sklearn-rows", type=int, default=50_000,
                        help="run scikit-learn only up to this many rows (2 shared cores)")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    if args.child:
        what, n, k, extra, l2, budget = args.child
        out = (run_ours(int(n), int(k), int(extra), float(l2), float(budget)) if what == "ours"
               else run_sklearn(int(n), int(k), what, float(l2)))
        print(json.dumps(out))
        return
    table = QUICK if args.quick else {s: SIZES[s] for s in args.sizes.split(",")}
    caps = dict(item.split("=") for item in args.epochs.split(",") if item)
    budgets = dict(item.split("=") for item in args.budget.split(",") if item)
    rows = []
    for name, (n, k) in table.items():
        l2 = args.l2 or 1.0 / (2 * n)
        rate = gemm_rate(k)
        ours = child(["ours", str(n), str(k), caps.get(name, "10"), str(l2),
                      budgets.get(name, "0")], 4 * 3600)
        if "rows_per_s" in ours:  # FLOPs per row: forward and two backward GEMMs
            per_s = float(ours["rows_per_s"])  # type: ignore[arg-type]
            ours["gemm_share"] = 3 * 2 * WIDTH * k * per_s / rate
        row = {"size": name, "n": n, "k": k, "l2": l2, "gemm_gflops": rate / 1e9, "ours": ours}
        for which in ("logreg", "sgd"):
            work = n * WIDTH * k * (100 if which == "logreg" else 5)
            need = 8 * n * WIDTH * 2 + 8 * n * k * (4 if which == "logreg" else 0)
            if args.no_sklearn or n > args.sklearn_rows:
                row[which] = {"skipped": "--no-sklearn or over --sklearn-rows"}
            elif need > SKLEARN_BYTES or work > SKLEARN_WORK:
                row[which] = {"skipped": f"needs ~{need / 1e9:.0f} GB / ~{work:.0e} "
                              "multiply-adds (limits: 8 GB, an hour)"}
            else:
                row[which] = child([which, str(n), str(k), "0", str(l2), "0"], 3600)
        rows.append(row)
        print(json.dumps(row, default=str)[:600], file=sys.stderr)
    print("| size | fit | epochs trained (best) | s/epoch | total s | to best s | peak RSS GB "
          "| top-1 | top-5 | avg recall | GEMM GFLOP/s | share of GEMM |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        o = row["ours"]
        assert isinstance(o, dict)
        if "fit_s" in o:
            print(f"| {row['size']} | fieldguide (SGD) | {o['epochs_trained']:.2f} "
                  f"({o['best_epoch']}) | "
                  f"{o['epoch_s']:.1f} | {o['fit_s']:.1f} | {o['to_best_s']:.1f} | "
                  f"{o['peak_rss_gb']:.2f} | {o['top1']:.4f} | {o['top5']:.4f} | "
                  f"{o['avg_recall']:.4f} | {row['gemm_gflops']:.0f} | {o['gemm_share']:.0%} |")
        else:
            print(f"| {row['size']} | fieldguide (SGD) | skipped: {o.get('skipped')} |")
        for which, label in (("logreg", "LogisticRegression"), ("sgd", "SGDClassifier")):
            s = row[which]
            assert isinstance(s, dict)
            if "fit_s" in s:
                ratio = f" ({float(o.get('fit_s', math.nan)) / s['fit_s']:.2f}x ours/theirs)"
                print(f"| {row['size']} | {label} | | | {s['fit_s']:.1f}{ratio} | | "
                      f"{s['peak_rss_gb']:.2f} | {s['top1']:.4f} | {s['top5']:.4f} | "
                      f"{s['avg_recall']:.4f} | | |")
            else:
                print(f"| {row['size']} | {label} | skipped: {s.get('skipped')} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()

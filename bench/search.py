"""Search benchmark (issue #13): the embedding index at a million vectors, and on real photos.

    python bench/search.py            # 1,000,000 synthetic 1280-d vectors + all flower photos
    python bench/search.py --quick    # 50,000 vectors, 120 flower photos: checks it runs

Synthetic part: clustered embeddings at the EfficientNet-Lite0 width (1280), built into an
index with ``fieldguide.search.write_index`` (``kind="auto"``: IVF-Flat beyond FLAT_LIMIT;
``--quick`` forces IVF so the same path runs at a small size). Reported: build time, the
index size on disk and its open time (memory-mapped), single-query latency (p50/p99 of
``similar`` one query at a time), batch throughput, and recall@10 against exact search (a
chunked matrix product over the same normalised vectors). Targets: build <= 180 s, p99 <=
10 ms, recall@10 >= 0.95.

The clusters are nested like a taxonomy (families -> species -> photos, species of very
different sizes) so that neighbours straddle IVF lists the way real embeddings do; a
k-means-friendly blob per list would overstate recall.

Real part: the oxford_flowers12 photos through ImageNet EfficientNet-Lite0 (the pooled
1280-d features a linear-probe model exports as its embedding), indexed flat (exact) and IVF
with the automatic shape and a sweep of nprobe: recall@10 of IVF against exact.

The machine is shared: the load average is printed; absolute times matter only on a quiet one.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from fieldguide.search import Entries, ModelIdentity, open_index, similar, write_index
from fieldguide.search.store import ivf_shape, normalised

#: The real sample photos, found beside the repository (../shared), never by an absolute path.
FLOWERS = Path(__file__).resolve().parents[1] / "../shared/data/images/oxford_flowers12"
WIDTH = 1280
CLASSES = [f"species {i:02d}" for i in range(16)]


def clustered(n: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n + 1000 held-out queries) normalised vectors: 100 families, 2,000 species of
    Zipf-like sizes around them, photos around the species. Returns (index vectors,
    queries)."""
    rng = np.random.default_rng(seed)
    families = rng.standard_normal((100, width), dtype=np.float32)
    species = families[rng.integers(0, 100, 2000)] + \
        0.7 * rng.standard_normal((2000, width), dtype=np.float32)
    sizes = 1.0 / np.arange(1, 2001) ** 0.8
    total = n + 1000
    of = rng.choice(2000, total, p=sizes / sizes.sum())
    out = np.empty((total, width), dtype=np.float32)
    for s in range(0, total, 65_536):
        e = min(s + 65_536, total)
        chunk = species[of[s:e]] + 0.9 * rng.standard_normal((e - s, width), dtype=np.float32)
        out[s:e] = normalised(chunk)
    return out[:n], out[n:]


def exact_top(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row numbers of the exact k nearest (inner product), scanning the data in chunks."""
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    best_vals = np.zeros((len(queries), 0), dtype=np.float32)
    for s in range(0, len(data), 65_536):
        scores = queries @ data[s:s + 65_536].T
        part = np.argpartition(-scores, min(k, scores.shape[1]) - 1, axis=1)[:, :k]
        vals = np.concatenate([best_vals, np.take_along_axis(scores, part, 1)], axis=1)
        rows = np.concatenate([best_rows, part + s], axis=1)
        keep = np.argsort(-vals, axis=1, kind="stable")[:, :k]
        best_vals, best_rows = (np.take_along_axis(vals, keep, 1),
                                np.take_along_axis(rows, keep, 1))
    return best_rows


def recall(got: np.ndarray, want: np.ndarray) -> float:
    """Share of the exact k nearest that the index returned (recall@k)."""
    return float(np.mean([len(set(g) & set(w)) / len(w)
                          for g, w in zip(got.tolist(), want.tolist(), strict=True)]))


def entries(vectors: np.ndarray, labels: list[str], seed: int) -> Entries:
    ids = [f"p{i:07d}" for i in range(len(vectors))]
    logits = np.random.default_rng(seed).standard_normal((len(vectors), len(CLASSES)),
                                                         dtype=np.float32)
    return Entries(ids, ids, ids, labels, vectors, logits)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def synthetic(n: int, kind: str, work: Path, queries_timed: int) -> None:
    start = time.perf_counter()
    data, queries = clustered(n, WIDTH, seed=0)
    print(f"synthetic: {n:,} x {WIDTH} clustered vectors made in "
          f"{time.perf_counter() - start:.1f} s")
    model = ModelIdentity("synthetic", "1", "0" * 64, WIDTH)
    labels = [CLASSES[i % len(CLASSES)] for i in range(n)]
    start = time.perf_counter()
    write_index(work / "synthetic", entries(data, labels, 0), model=model, classes=CLASSES,
                lineage={}, kind=kind)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    ix = open_index(work / "synthetic")
    open_ms = 1000 * (time.perf_counter() - start)
    lay = ix.layout
    print(f"  build: {build_s:.1f} s ({lay.kind}, nlist {lay.nlist}, nprobe {lay.nprobe}); "
          f"size {folder_size(work / 'synthetic') / 2**30:.2f} GiB; open {open_ms:.1f} ms")
    times = []
    for q in queries[:queries_timed]:
        t = time.perf_counter()
        similar(ix, q[None], k=10)
        times.append(1000 * (time.perf_counter() - t))
    p50, p99 = np.percentile(times, [50, 99])
    print(f"  single query ({queries_timed} queries, k=10): p50 {p50:.2f} ms, "
          f"p99 {p99:.2f} ms (target <= 10)")
    start = time.perf_counter()
    found = similar(ix, queries, k=10)
    batch_s = time.perf_counter() - start
    print(f"  batch of {len(queries)}: {len(queries) / batch_s:,.0f} queries/s")
    want = exact_top(data, queries, 10)
    print(f"  recall@10 vs exact: {recall(found.rows, want):.3f} (target >= 0.95)")
    if lay.kind == "ivf":
        for probe in sorted({max(1, lay.nprobe // 2), lay.nprobe * 2}):
            got = similar(ix, queries, k=10, nprobe=probe).rows
            print(f"    nprobe {probe}: recall@10 {recall(got, want):.3f}")


def flower_features(limit: int | None) -> tuple[np.ndarray, list[str]]:
    """ImageNet EfficientNet-Lite0 features of the flower photos (at most ``limit``, taken
    evenly across the listing so every species appears) and their labels."""
    import torch

    from fieldguide.models.pixels import Crop, load_crop, normalise
    from fieldguide.models.registry import backbone_info, create_backbone

    with open(FLOWERS / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if limit is not None and limit < len(rows):
        rows = [rows[i] for i in np.linspace(0, len(rows) - 1, limit).astype(int)]
    prep = backbone_info("tf_efficientnet_lite0").preprocessing
    crop = Crop.from_card(prep)
    torch.set_num_threads(2)
    net = create_backbone("tf_efficientnet_lite0", "imagenet").eval()
    feats = []
    with torch.no_grad():
        for s in range(0, len(rows), 32):
            crops = [load_crop(str(FLOWERS / r["path"]), crop) for r in rows[s:s + 32]]
            x = normalise(np.stack(crops), prep.mean, prep.std)
            feats.append(net(torch.from_numpy(x)).numpy())
    return np.concatenate(feats).astype(np.float32), [r["label"] for r in rows]


def real(limit: int | None, work: Path) -> None:
    start = time.perf_counter()
    emb, labels = flower_features(limit)
    print(f"flowers: {len(emb)} photos through EfficientNet-Lite0 in "
          f"{time.perf_counter() - start:.1f} s")
    model = ModelIdentity("lite0-imagenet", "1", "0" * 64, emb.shape[1])
    e = entries(emb, [CLASSES[0]] * len(emb), 1)
    flat = write_index(work / "flowers-flat", e, model=model, classes=CLASSES, lineage={},
                       kind="flat")
    nlist, nprobe = ivf_shape(len(emb))
    ivf = write_index(work / "flowers-ivf", e, model=model, classes=CLASSES, lineage={},
                      kind="ivf")
    want = similar(flat, emb, k=11).rows[:, 1:]  # each photo's own vector is its nearest
    for probe in sorted({min(nlist, max(1, p)) for p in (1, nprobe // 2, nprobe, 2 * nprobe,
                                                          nlist)}):
        got = similar(ivf, emb, k=11, nprobe=probe).rows[:, 1:]
        print(f"  IVF nlist {nlist}, nprobe {probe}: recall@10 vs exact "
              f"{recall(got, want):.3f}{' (automatic)' if probe == nprobe else ''}")
    top = similar(flat, emb, k=6).rows[:, 1:]
    same = np.array(labels)[top] == np.array(labels)[:, None]
    print(f"  exact top-5 neighbours of the same species (leave-one-out): {same.mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="50,000 vectors (IVF forced) and 120 flower photos")
    parser.add_argument("--vectors", type=int, default=None, help="synthetic index size")
    args = parser.parse_args()
    n = args.vectors or (50_000 if args.quick else 1_000_000)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="fieldguide-search-") as tmp:
        synthetic(n, "ivf" if args.quick else "auto", Path(tmp), 200 if args.quick else 1000)
        real(120 if args.quick else None, Path(tmp))


if __name__ == "__main__":
    main()

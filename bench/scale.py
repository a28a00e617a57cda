"""Scale benchmark: identification throughput of the local engine (one process) against the
Ray engine with 1 and 2 actors on this machine, Ray's start-up and per-batch overhead, and
the per-core rate that docs/scale.md's paper plan multiplies out.

    python bench/scale.py [--model ARTEFACT] [--quick]

Photos: the Oxford flowers (../shared, beside the repository), cycled to --photos. Without
--model the tiny colour probe of the tests is used (decoding dominates then: a real model's
per-core rate is lower; the lead's full run passes the trained artefact). Each engine scores
into a fresh work folder, so nothing is resumed. Ray's per-batch overhead is timed on rows
with no file (each becomes an error row at once), so it is Ray's cost alone, between the first
and the last batch's arrival; the Ray job times include starting the actors (the fixed cost,
stated separately). The machine is shared: the load is
printed, and the ratios matter more than the absolute rates.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fieldguide.identification import Classifier, RunOptions, run_outputs
from fieldguide.identification.inputs import Photos
from fieldguide.identification.ray_engine import RayEngine, require_ray

REPO = Path(__file__).resolve().parents[1]
FLOWERS = REPO / "../shared/data/images/oxford_flowers12"


def listing(paths: list[str]) -> Photos:
    n = len(paths)
    ids = [f"p{i}" for i in range(n)]
    nan = np.full(n, np.nan)
    return Photos(ids, paths, ids, nan, nan.copy(), [""] * n)


def timed(engine: object, photos: Photos, model: Classifier, options: RunOptions,
          work: Path) -> float:
    """Seconds to score every photo into a fresh work folder."""
    start = time.perf_counter()
    engine(photos, model, work, options, ("logits",), None)  # type: ignore[operator]
    return time.perf_counter() - start


def tiny_model(folder: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.identification.conftest import write_tiny_model

    return write_tiny_model(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="artefact with model.onnx (default: tiny probe)")
    ap.add_argument("--quick", action="store_true", help="96 photos, 64 overhead batches")
    ap.add_argument("--photos", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    n = 96 if args.quick else args.photos
    empty_batches = 64 if args.quick else 512
    ray = require_ray()
    sources = sorted(str(p) for p in FLOWERS.glob("*/*/*.jpg"))
    photos = listing([sources[i % len(sources)] for i in range(n)])
    cores = os.cpu_count() or 1
    print(f"{n} photos, batch {args.batch_size}, {cores} cores, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = Classifier(args.model or tiny_model(root / "model"), threads=1)
        opts = RunOptions(args.batch_size, chunk_size=4 * args.batch_size, decode_workers=1)
        rows: list[tuple[str, int, float]] = []
        rows.append(("local, 1 thread", 1, n / timed(run_outputs, photos, model, opts,
                                                      root / "local1")))
        opts2 = RunOptions(args.batch_size, opts.chunk_size, decode_workers=2)
        two = Classifier(model.folder, threads=2)
        rows.append(("local, 2 threads", 2, n / timed(run_outputs, photos, two, opts2,
                                                       root / "local2")))
        start = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
        startup = time.perf_counter() - start
        for actors in (1, 2):
            t = timed(RayEngine(actors=actors, threads=1), photos, model, opts,
                      root / f"ray{actors}")
            rows.append((f"ray, {actors} actor(s) x 1 thread", actors, n / t))
        stamps: list[tuple[float, int]] = []
        empty = listing([""] * (empty_batches * args.batch_size))
        start = time.perf_counter()
        RayEngine(actors=1, threads=1)(
            empty, model, root / "empty", opts, ("logits",),
            lambda done, rate: stamps.append((time.perf_counter(), done)))
        fixed = stamps[0][0] - start
        batches = (stamps[-1][1] - stamps[0][1]) / args.batch_size
        per_batch = (stamps[-1][0] - stamps[0][0]) / max(batches, 1)
        ray.shutdown()
    print(f"ray.init (local, no dashboard): {startup:.2f} s")
    print(f"ray per-batch overhead (1 actor, {empty_batches} empty batches, "
          f"first delivery to last): "
          f"{per_batch * 1e3:.1f} ms; a job's fixed cost (plan, actor start, first batch): "
          f"{fixed:.2f} s (the Ray rows include it: at --quick size it dominates)")
    print("| engine | cores | photos/s | photos/s per core | photos per core-hour |")
    print("|---|---|---|---|---|")
    for name, used, r in rows:
        print(f"| {name} | {used} | {r:.1f} | {r / used:.1f} | {r / used * 3600:,.0f} |")


if __name__ == "__main__":
    main()

"""Benchmark: the full iNaturalist rule set plus the iNat2017 split on a synthetic study.

    python bench/curate.py            # 10M observations, 25M photos, 60k taxa, 1M observers
    python bench/curate.py --scale 0.1

Generation (SQL straight into DuckDB) is timed apart from curation. Peak memory is the process's
resident set, sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import psutil

from fieldguide.curation import parse_spec, select
from fieldguide.curation.manifest import write_manifest
from fieldguide.curation.synthetic import make_synthetic_study
from fieldguide.store import Study

SPEC = {
    "name": "bench-inat",
    "seed": 7,
    "step": [
        {"rule": "validated", "quality_grade": ["research"]},
        {"rule": "exclude_hybrids"},
        {"rule": "taxonomy", "rank": "species"},
        {"rule": "select_taxa", "min_photos": 100, "min_observations": 20, "min_observers": 20},
        {"rule": "photos_per_observation", "max": 5},
        {"rule": "photos_per_taxon", "max": 1000},
    ],
    "split": {"method": "inat2017"},
}


class PeakMemory:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        proc = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, proc.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit")
    parser.add_argument("--manifest", action="store_true", help="also write manifest.parquet")
    args = parser.parse_args()
    n_obs = int(10_000_000 * args.scale)
    spec = parse_spec(SPEC)
    with tempfile.TemporaryDirectory() as tmp, PeakMemory() as mem, Study(Path(tmp)) as study:
        study.con.execute(f"SET memory_limit = '{args.memory_limit}'")
        start = time.perf_counter()
        make_synthetic_study(study, observations=n_obs, taxa=int(60_000 * args.scale) or 1,
                             observers=int(1_000_000 * args.scale) or 1)
        generated = time.perf_counter() - start
        counts = study.counts()
        start = time.perf_counter()
        records = select(study, spec)
        curated = time.perf_counter() - start
        written = 0.0
        if args.manifest:
            start = time.perf_counter()
            write_manifest(study.con, Path(tmp) / "out", (), ("parquet",), None)
            written = time.perf_counter() - start
        peak = mem.peak
    print(f"synthetic study: {counts['observations']:,} observations, {counts['photos']:,} photos,"
          f" {counts['taxa']:,} taxa; generated in {generated:.1f} s")
    print("| step | photos out | observations out | taxa out | seconds |")
    print("|---|---:|---:|---:|---:|")
    for r in records:
        print(f"| {r.step} | {r.photos_out:,} | {r.observations_out:,} | {r.taxa_out:,} | "
              f"{r.seconds:.1f} |")
    print(f"| **rules + split total** | | | | **{curated:.1f}** |")
    if args.manifest:
        print(f"| manifest.parquet | | | | {written:.1f} |")
    print(f"peak RSS {peak / 2**30:.2f} GiB (DuckDB memory_limit {args.memory_limit}); "
          f"{psutil.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

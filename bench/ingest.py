"""Ingestion benchmark: a synthetic iNaturalist-shaped export of 1,000,000 observations,
3,000,000 votes, and a 100,000-taxon tree (issue 2's targets: >= 500,000 rows/s into DuckDB,
peak memory < 2 GB).

Each measured step runs in its own child process so its peak memory (ru_maxrss) is its own.
As a reference point, pandas.read_csv parses the same files in the same run (parsing only: no
validation, no store). Usage: python bench/ingest.py [--observations N] [--votes N] [--taxa N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

SEED = 20261125


_SUFFIX = {"kingdom": "ae", "phylum": "phyta", "class": "opsida", "order": "ales",
           "family": "aceae", "genus": "ia"}


def _latin(i: int) -> str:
    """A pronounceable lower-case word for an integer (names as real checklists spell them)."""
    syllables = [c + v for c in "bcdlmnrst" for v in "aeiou"]
    word = ""
    while True:
        i, r = divmod(i, len(syllables))
        word += syllables[r]
        if i == 0:
            return word + "us"
        i -= 1


def synthetic_tree(n_taxa: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A 7-rank tree with most taxa species, as in real checklists (~70% species)."""
    scale = min(1.0, n_taxa / 100_000)
    shares = {"kingdom": 3, "phylum": max(3, int(30 * scale)), "class": max(3, int(150 * scale)),
              "order": max(3, int(900 * scale)), "family": max(3, int(4_000 * scale)),
              "genus": int(n_taxa * 0.2)}
    n_species = n_taxa - sum(shares.values())
    ranks, parents, names = [], [], []
    prev_start, prev_n, start = -1, 0, 0
    for rank, n in [*shares.items(), ("species", n_species)]:
        parent = rng.integers(prev_start, prev_start + prev_n, n) if prev_n else np.full(n, -1)
        ranks += [rank] * n
        parents.append(parent)
        if rank == "species":
            genus_names = np.asarray(names, dtype=object)
            names += [f"{genus_names[p]} {_latin(i)}" for i, p in enumerate(parent)]
        else:
            names += [f"{_latin(start + i).capitalize()}{_SUFFIX[rank]}" for i in range(n)]
        prev_start, prev_n, start = start, n, start + n
    return {"id": np.arange(1, n_taxa + 1), "parent": np.concatenate(parents) + 1,
            "rank": np.asarray(ranks), "name": np.asarray(names, dtype=object)}


def write_export(path: Path, tree: dict[str, np.ndarray], n_obs: int,
                 rng: np.random.Generator) -> None:
    """An iNaturalist export: Zipf-distributed species, 1/10 as many observers, rank columns."""
    species = np.flatnonzero(tree["rank"] == "species")
    pick = species[np.minimum(rng.zipf(1.3, n_obs) - 1, len(species) - 1)]
    lineage = {r: np.empty(len(tree["id"]), dtype=object) for r in
               ("kingdom", "phylum", "class", "order", "family", "genus")}
    index = tree["parent"] - 1
    for i in range(len(tree["id"])):  # small: the tree, not the observations
        rank = tree["rank"][i]
        if rank in lineage:
            lineage[rank][i] = tree["name"][i]
        p = index[i]
        for r in lineage:
            if p >= 0 and lineage[r][p] is not None:
                lineage[r][i] = lineage[r][p]
    days = rng.integers(0, 365 * 8, n_obs)
    dates = (np.datetime64("2017-01-01") + days).astype(str)
    users = rng.zipf(1.5, n_obs) % (n_obs // 10)
    cols: dict[str, Any] = {
        "id": np.arange(10_000_000, 10_000_000 + n_obs),
        "observed_on": dates,
        "time_observed_at": np.char.add(dates, " 12:00:00 UTC"),
        "user_id": users, "user_login": np.char.add("user", users.astype(str)),
        "quality_grade": np.where(rng.random(n_obs) < 0.7, "research", "needs_id"),
        "license": np.full(n_obs, "CC-BY-NC"),
        "image_url": np.char.add(np.char.add("https://static.inaturalist.org/photos/",
                                             np.arange(n_obs).astype(str)), "/medium.jpg"),
        "latitude": rng.uniform(-60, 70, n_obs).round(6),
        "longitude": rng.uniform(-180, 180, n_obs).round(6),
        "positional_accuracy": rng.integers(1, 5000, n_obs),
        "taxon_id": tree["id"][pick], "scientific_name": tree["name"][pick],
    }
    for rank, values in lineage.items():
        cols[f"taxon_{rank}_name"] = values[pick]
    cols["taxon_species_name"] = tree["name"][pick]
    pacsv.write_csv(pa.table(cols), path)


def write_votes(path: Path, n_votes: int, rng: np.random.Generator) -> None:
    """Pl@ntNet-shaped votes: about 3 per task, prolific and occasional workers."""
    tasks = np.sort(rng.integers(0, n_votes // 3, n_votes))
    workers = (rng.zipf(1.4, n_votes) * 7919 + rng.integers(0, 200_000, n_votes)) % 200_000
    labels = np.minimum(rng.zipf(1.3, n_votes), 11_000)
    pacsv.write_csv(pa.table({"task": tasks, "worker": workers, "label": labels}), path)


def _child(fn: Callable[[], Any], queue: Any) -> None:
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    queue.put((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, result))


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(seconds, peak MiB, result) of fn run in a fresh forked process."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--votes", type=int, default=3_000_000)
    parser.add_argument("--taxa", type=int, default=100_000)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    from fieldguide.ingest import ingest_inat_csv, ingest_votes
    from fieldguide.store import Study
    from fieldguide.taxonomy import Taxonomy

    with tempfile.TemporaryDirectory(prefix="fieldguide-bench-") as tmp:
        work = Path(tmp)
        tree = synthetic_tree(args.taxa, rng)
        export, votes = work / "export.csv", work / "votes.csv"
        write_export(export, tree, args.observations, rng)
        write_votes(votes, args.votes, rng)
        mib = (export.stat().st_size + votes.stat().st_size) / 2**20
        print(f"synthetic data: {args.observations:,} observations, {args.votes:,} votes, "
              f"{args.taxa:,} taxa ({mib:,.0f} MiB of CSV)\n")

        def inat() -> int:
            with Study(work / "study") as s:
                return ingest_inat_csv(s, export).rows_kept

        def vote() -> int:
            with Study(work / "study") as s:
                return ingest_votes(s, votes).rows_kept

        def build_tree() -> int:
            return len(Taxonomy.from_parents(tree["id"], np.where(tree["parent"] > 0,
                                             tree["parent"], -1), tree["name"], tree["rank"]))

        def pandas_parse(path: Path) -> Callable[[], int]:
            def run() -> int:
                import pandas as pd

                return len(pd.read_csv(path, dtype=str))
            return run

        rows = [
            ("ingest iNaturalist export", args.observations, measure(inat)),
            ("ingest votes CSV", args.votes, measure(vote)),
            (f"build {args.taxa:,}-taxon tree", args.taxa, measure(build_tree)),
            ("reference: pandas.read_csv export (parse only)", args.observations,
             measure(pandas_parse(export))),
            ("reference: pandas.read_csv votes (parse only)", args.votes,
             measure(pandas_parse(votes))),
        ]
    print("| step | rows | seconds | rows/s | peak MiB |")
    print("|---|---:|---:|---:|---:|")
    for name, n, (seconds, peak, result) in rows:
        assert result == n, (name, result, n)
        print(f"| {name} | {n:,} | {seconds:.2f} | {n / seconds:,.0f} | {peak:,.0f} |")
    ours = rows[0][2][0] + rows[1][2][0]
    ref = rows[3][2][0] + rows[4][2][0]
    total = args.observations + args.votes
    print(f"\ningestion overall: {total:,} rows in {ours:.2f} s = {total / ours:,.0f} rows/s "
          f"(target >= 500,000), peak {max(rows[0][2][1], rows[1][2][1]):,.0f} MiB (< 2 GiB)")
    print(f"full ingestion (parse + validate + taxa + store) vs pandas parse only: "
          f"{ref / ours:.2f}x the speed")


if __name__ == "__main__":
    main()

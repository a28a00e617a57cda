"""Benchmark ``fieldguide.taxonomy.Taxonomy`` on synthetic 100k- and 1M-taxon trees.

Run: ``.venv/bin/python bench/taxonomy.py [--sizes 100000 1000000]``. The trees have
the seven main ranks in a realistic shape (species ~75%, genera ~19%, a long tail of family
sizes), shuffled non-contiguous ids and Latin-looking names; seed fixed for reproducibility.
Prints a Markdown table of wall times and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import string
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fieldguide.taxonomy import MAIN_RANKS, Taxonomy

SHARES = {"kingdom": 0.00001, "phylum": 0.0002, "class": 0.001, "order": 0.005,
          "family": 0.025, "genus": 0.19}  # species take the rest
LETTERS = np.array(list(string.ascii_lowercase))


def latin(idx: np.ndarray[Any, Any], capital: bool) -> list[str]:
    """Distinct pronounceable-ish names from integers (base-26 digits plus a suffix)."""
    digits = [(idx // 26**k) % 26 for k in range(5)]
    stems = ["".join(t) for t in zip(*(LETTERS[d] for d in digits), strict=True)]
    names = [f"{s}ia" for s in stems]
    return [n.capitalize() for n in names] if capital else names


def synthetic(n: int, seed: int = 42) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any],
                                                list[str], list[str]]:
    """ids, parent ids, names, ranks of an n-taxon tree with the seven main ranks."""
    rng = np.random.default_rng(seed)
    counts = {r: max(1, int(n * s)) for r, s in SHARES.items()}
    counts["species"] = n - sum(counts.values())
    ids = rng.permutation(np.arange(1, 20 * n, 20, dtype=np.int64))[:n] + rng.integers(0, 20)
    parents = np.full(n, -1, dtype=np.int64)
    names: list[str] = []
    ranks: list[str] = []
    start = 0
    prev: tuple[int, int] | None = None
    genus_of: np.ndarray[Any, Any] | None = None
    for rank in MAIN_RANKS:
        k = counts[rank]
        if prev is not None:
            # Zipf-like sizes: a few huge families/genera, most small
            weights = rng.zipf(1.6, size=prev[1]).astype(float)
            choice = rng.choice(prev[1], size=k, p=weights / weights.sum())
            parents[start : start + k] = ids[prev[0] + choice]
            if rank == "species":
                genus_of = choice
        if rank == "species" and genus_of is not None:
            gnames = names[prev[0] : prev[0] + prev[1]] if prev else []
            epithets = latin(np.arange(k), capital=False)
            names.extend(f"{gnames[g]} {e}" for g, e in zip(genus_of.tolist(), epithets,
                                                            strict=True))
        else:
            names.extend(latin(np.arange(start, start + k) * 7 + 3, capital=True))
        ranks.extend([rank] * k)
        prev = (start, k)
        start += k
    return ids, parents, names, ranks


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024**2


def bench(n: int, samples: int) -> list[tuple[str, str]]:
    ids, parents, names, ranks = synthetic(n)
    rows: list[tuple[str, str]] = []
    t, tax = timed(lambda: Taxonomy.from_parents(ids, parents, names, ranks))
    rows.append(("from_parents", f"{t:.2f} s"))
    t, _ = timed(lambda: [tax.ancestor_at_rank(tax.ids, r) for r in MAIN_RANKS])
    rows.append((f"ancestor_at_rank, 7 ranks x {n:,} ids (first use)", f"{t:.2f} s"))
    t, _ = timed(lambda: [tax.ancestor_at_rank(tax.ids, r) for r in MAIN_RANKS])
    rows.append(("ancestor_at_rank, same again (cached)", f"{t:.2f} s"))
    rng = np.random.default_rng(1)
    queries = [names[i] for i in rng.integers(0, n, size=1_000_000)]
    t, _ = timed(lambda: tax.ids_by_name(queries[0]))
    rows.append(("name index build (first ids_by_name)", f"{t:.2f} s"))
    t, hits = timed(lambda: sum(len(tax.ids_by_name(q)) for q in queries))
    rows.append(("1,000,000 ids_by_name lookups", f"{t:.2f} s ({hits:,} hits)"))
    species = tax.ids[np.asarray(ranks) == "species"]
    scores = rng.random((samples, len(species)), dtype=np.float32)
    scores /= scores.sum(axis=1, keepdims=True)
    t, out = timed(lambda: tax.rollup(scores, species))
    ok = all(np.allclose(v.scores.sum(axis=1), 1.0, atol=1e-3) for v in out.values())
    rows.append((f"rollup {samples} x {len(species):,} to 7 ranks", f"{t:.2f} s (sums ok: {ok})"))
    t, _ = timed(lambda: [tax.lca(int(a), int(b)) for a, b in rng.choice(species, (10_000, 2))])
    rows.append(("10,000 lca", f"{t:.2f} s"))
    rows.append(("peak RSS so far", f"{peak_rss_mb():,.0f} MB"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--samples", type=int, nargs="+", default=[1000, 200],
                        help="rows of the roll-up score matrix, per size")
    args = parser.parse_args()
    print("| tree | operation | time |")
    print("|---|---|---:|")
    for i, n in enumerate(args.sizes):
        samples = args.samples[min(i, len(args.samples) - 1)]
        for op, value in bench(n, samples):
            print(f"| {n:,} taxa | {op} | {value} |", flush=True)


if __name__ == "__main__":
    main()

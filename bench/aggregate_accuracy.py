"""Accuracy of every aggregation method on the real vote sets with truth, beside crowd-kit's.

For each dataset in ../shared/data/votes with a truth file, prints our accuracy for majority,
wawa, dawid-skene, glad, two-thirds and plantnet, and crowd-kit's MajorityVote, Wawa,
DawidSkene and GLAD on the same file (the references the issue names), as a Markdown table.
Usage: python bench/aggregate_accuracy.py [--data ../shared/data] [--skip-glad-over N]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from fieldguide.votes import create
from fieldguide.votes.io import read_truth, read_votes

OURS = ["majority", "wawa", "dawid-skene", "glad", "two-thirds", "plantnet"]
THEIRS = ["MajorityVote", "Wawa", "DawidSkene", "GLAD"]


def ours(votes_csv: Path, truth_csv: Path) -> dict[str, float]:
    table = read_votes(votes_csv)
    truth = read_truth(truth_csv, table)
    known = truth != -1
    out = {}
    for name in OURS:
        labels = create(name).fit(table).labels_
        out[name] = float((labels[known] == truth[known]).mean())
    return out


def crowdkit(votes_csv: Path, truth_csv: Path, skip_glad_over: int) -> dict[str, float]:
    import crowdkit.aggregation as ck

    df = pd.read_csv(votes_csv, dtype=str)
    truth = pd.read_csv(truth_csv, dtype=str).set_index("task")["truth"]
    out = {}
    for name in THEIRS:
        if name == "GLAD" and len(df) > skip_glad_over:
            out[name] = float("nan")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = getattr(ck, name)().fit_predict(df).astype(str)
        common = truth.index.intersection(pred.index)
        out[name] = float((pred.loc[common] == truth.loc[common]).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--skip-glad-over", type=int, default=10**9,
                        help="skip crowd-kit GLAD on files with more votes (it is slow)")
    args = parser.parse_args()
    cols = [*OURS, *(f"crowd-kit {n}" for n in THEIRS)]
    print("| dataset | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for folder in sorted((args.data / "votes").iterdir()):
        votes, truth = folder / "normalized" / "votes.csv", folder / "normalized" / "truth.csv"
        if not truth.is_file():
            continue
        start = time.perf_counter()
        row = {**ours(votes, truth), **{f"crowd-kit {k}": v for k, v in
                                        crowdkit(votes, truth, args.skip_glad_over).items()}}
        cells = " | ".join("-" if np.isnan(row[c]) else f"{row[c]:.3f}" for c in cols)
        print(f"| {folder.name} | {cells} |  <!-- {time.perf_counter() - start:.0f} s -->")


if __name__ == "__main__":
    main()

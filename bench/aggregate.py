"""Aggregation at Pl@ntNet scale on a synthetic, seeded vote set; references on samples.

    python bench/aggregate.py              # published scale: 6.6M tasks, 9M votes, 820K users
    python bench/aggregate.py --scale 0.01 # quick run
    python bench/aggregate.py --methods plantnet --samples ''   # the plantnet row alone

Times ``plantnet`` to convergence, ``majority`` and (when present) ``dawid-skene`` 20 rounds on
the whole set with the peak RSS, then crowd-kit's MajorityVote and DawidSkene and peerannot's
PlantNet on 1/1000, 1/100 and 1/10 task samples, each in a forked child with a time cap and an
8 GB address-space cap, against ours on the same sample. Prints Markdown.

plantnet's compiled loops are compiled (or loaded from numba's cache) on a tiny set first, and
that time is printed apart: it is paid once per process, not per million votes.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from fieldguide.votes import REGISTRY, VoteTable, create

PARAMS: dict[str, dict[str, Any]] = {"dawid-skene": {"n_iter": 20, "tol": 0.0}}
FULL = {"tasks": 6_699_593, "votes": 9_005_108, "users": 823_251, "classes": 11_425}


def synthesize(scale: float, seed: int = 0) -> VoteTable:
    """Zipf classes, Zipf user activity, 6% experts (97% right), novices 50-90% right.

    Every task carries its author's vote; the remaining votes go to random tasks by other
    users. (Published totals leave 1.34 votes per task, so single-vote tasks are ~70% here;
    the thesis's 24% cannot hold together with 6.6M tasks and 9M votes.)
    """
    rng = np.random.default_rng(seed)
    n_t, n_v = int(FULL["tasks"] * scale), int(FULL["votes"] * scale)
    n_u, n_c = max(int(FULL["users"] * scale), 10), FULL["classes"]
    class_p = 1.0 / np.arange(1, n_c + 1) ** 1.1
    class_p /= class_p.sum()
    truth = rng.choice(n_c, size=n_t, p=class_p)
    expert = rng.random(n_u) < 0.06
    skill = np.where(expert, 0.97, rng.uniform(0.5, 0.9, n_u))
    activity = 1.0 / np.arange(1, n_u + 1) ** 0.8 * np.where(expert, 5.0, 1.0)
    activity /= activity.sum()
    author = rng.choice(n_u, size=n_t, p=activity)
    extra_task = rng.integers(0, n_t, n_v - n_t)
    task = np.concatenate([np.arange(n_t), extra_task])
    worker = np.concatenate([author, rng.choice(n_u, size=n_v - n_t, p=activity)])
    right = rng.random(n_v) < skill[worker]
    label = np.where(right, truth[task], rng.choice(n_c, size=n_v, p=class_p))
    return VoteTable.from_records(task, worker, label, authors=(np.arange(n_t), author))


def sample(votes: VoteTable, every: int) -> VoteTable:
    """Tasks whose code is a multiple of ``every``, renumbered densely (peerannot needs it)."""
    keep = votes.task % every == 0
    assert votes.author is not None
    kept = np.arange(0, votes.n_tasks, every)
    return VoteTable.from_records(votes.task[keep] // every, votes.worker[keep],
                                  votes.label[keep],
                                  authors=(kept // every, votes.author[kept]))


class PeakRSS:
    """Peak resident memory of this process, sampled every 20 ms while active."""

    def __enter__(self) -> PeakRSS:
        self.peak, self._stop = psutil.Process().memory_info().rss, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        proc = psutil.Process()
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _child(fn: Callable[[], Any], queue: Any) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # fail, don't swap the host
    warnings.simplefilter("ignore")
    try:
        queue.put(("ok", timed(fn)))
    except BaseException as exc:
        queue.put(("failed", f"{type(exc).__name__}"))


def capped(fn: Callable[[], Any], cap: float) -> str | float:
    """Seconds ``fn`` took in a forked child, or why it did not finish within ``cap``."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, queue))
    proc.start()
    proc.join(cap)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return f"> {cap:.0f} s (stopped)"
    status, value = queue.get() if not queue.empty() else ("failed", "crashed")
    return value if status == "ok" else f"failed ({value})"


def references(votes: VoteTable, tmp: Path) -> dict[str, Callable[[], Any]]:
    """crowd-kit and peerannot runs on ``votes`` (inputs built here, not timed)."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene, MajorityVote
    from peerannot.models.aggregation.plantnet import PlantNet

    df = pd.DataFrame({"task": votes.task, "worker": votes.worker, "label": votes.label})
    answers: dict[int, dict[int, int]] = {}
    for t, w, lab in zip(votes.task.tolist(), votes.worker.tolist(), votes.label.tolist(),
                         strict=True):
        answers.setdefault(t, {})[w] = lab
    assert votes.author is not None
    authors = tmp / "authors.txt"
    np.savetxt(authors, votes.author, fmt="%d")

    def peerannot_plantnet() -> None:
        pn = PlantNet(answers, n_classes=votes.n_labels, n_workers=votes.n_workers,
                      authors=str(authors))
        pn.run()

    return {
        "majority": lambda: MajorityVote().fit(df),
        "dawid-skene": lambda: DawidSkene(n_iter=20, tol=0.0).fit(df),
        "plantnet": peerannot_plantnet,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--cap", type=float, default=60.0, help="seconds per reference run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", default="1000,100,10",
                        help="task samples 1/N for the reference runs ('' for none)")
    parser.add_argument("--methods", default="plantnet,majority,dawid-skene",
                        help="comma-separated methods to time")
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    methods = [m for m in args.methods.split(",") if m in REGISTRY]

    if "plantnet" in methods:
        warm = time.perf_counter()
        create("plantnet").fit(VoteTable.from_records([0, 0, 1], [0, 1, 1], [0, 0, 1],
                                                      authors={0: 0, 1: 1}))
        print(f"plantnet kernels compiled or loaded from cache in "
              f"{time.perf_counter() - warm:.1f} s")

    build = time.perf_counter()
    votes = synthesize(args.scale, args.seed)
    build = time.perf_counter() - build
    single = float((np.bincount(votes.task) == 1).mean())
    print(f"synthetic set (scale {args.scale}): {votes.n_tasks:,} tasks, {votes.n_votes:,} votes,"
          f" {votes.n_workers:,} users, {votes.n_labels:,} classes, {single:.0%} single-vote "
          f"tasks; built in {build:.1f} s\n")
    print("| method | seconds | peak RSS GB | iterations |\n|---|---:|---:|---:|")
    for name in methods:
        with PeakRSS() as mem:
            strategy = create(name, **PARAMS.get(name, {}))
            seconds = timed(lambda s=strategy: s.fit(votes))
        print(f"| {name} | {seconds:.2f} | {mem.peak / 2**30:.2f} | "
              f"{getattr(strategy, 'n_iter_', '')} |")

    if not args.samples:
        return
    print("\n| sample | method | ours s | reference | reference s | ratio |\n"
          "|---|---|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for every in (int(x) for x in args.samples.split(",") if x):
            sub = sample(votes, every)
            refs = references(sub, Path(tmp))
            label = f"1/{every} ({sub.n_votes:,} votes)"
            for name, ref in refs.items():
                if name not in methods:
                    continue
                mine = timed(lambda n=name, s=sub: create(n, **PARAMS.get(n, {})).fit(s))
                theirs = capped(ref, args.cap)
                lib = "peerannot" if name == "plantnet" else "crowd-kit"
                ratio = f"{theirs / mine:.0f}x" if isinstance(theirs, float) else "n/a"
                shown = f"{theirs:.2f}" if isinstance(theirs, float) else theirs
                print(f"| {label} | {name} | {mine:.3f} | {lib} | {shown} | {ratio} |",
                      flush=True)


if __name__ == "__main__":
    main()

"""A family at scale on synthetic embeddings: 10,000 classes in 8 groups (issue 23).

    python bench/family.py                         # 10,000 classes, 8 groups
    python bench/family.py --classes 2000 --max-iter 2 --repeats 3   # quick run

Training cost: the family (main head + one shared head per group, each calibrated) against
one flat head over every class, both by the probe fit
(``fieldguide.training.probe.fit_linear_heads``, its own choice of optimiser: L-BFGS for
up to 2M photos x classes, mini-batches beyond, so the flat head's 10,000 x 10,000 goes to
mini-batches and each group's 1,250 x 1,250 to L-BFGS) on the same vectors.

Identification: one embedding at a time (as the service answers), to P(taxon) over every
class as identification computes it (the model's ONNX call, then the posterior's softmax), by
the family (one ONNX call: the main and every group member as one concatenated matrix, the
groups' log-softmax and the product inside the graph) and by the flat head (its heads-only
ONNX model), both on one thread. The two answer alternately, call by call, so a busy machine
slows both alike; ``--repeats`` rounds of ``--calls`` calls each give a median and a p99 per
model and their ratio (target: family p99 <= 1.2x the flat model's), by the wall clock and by
the calling thread's CPU time (on a shared machine the wall clock's p99 is the scheduler's:
other processes' time slices), and the table reports the median round and every round's
ratio, with the load average before and after.
Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from fieldguide.family.model import FamilyModel
from fieldguide.family.train import Pool, fit_family, flat_head, write_family
from fieldguide.identification.heads_only import HeadsOnlyModel
from fieldguide.identification.posterior import softmax
from fieldguide.models.card import HeadSpec, ModelCard, Preprocessing, write_card
from fieldguide.models.encoders import heads_only


def synthesize(classes: int, groups: int, dim: int, per_class: int,
               seed: int = 0) -> Pool:
    """Class means around their group's centre; ``per_class`` training vectors per class,
    and 2,000 validation vectors."""
    rng = np.random.default_rng(seed)
    group_of = np.arange(classes) % groups
    centres = rng.normal(0, 3, (groups, dim))
    means = centres[group_of] + rng.normal(0, 1, (classes, dim))
    train = np.repeat(np.arange(classes), per_class)
    val = rng.integers(0, classes, 2000)
    labels = np.concatenate([train, val])
    feats = (means[labels] + rng.normal(0, 0.3, (len(labels), dim))).astype(np.float32)
    splits = np.array(["train"] * len(train) + ["val"] * len(val))
    return Pool(feats, labels, splits, np.full(len(labels), ""),
                tuple(f"taxon {i:05d}" for i in range(classes)),
                tuple(f"group {g}" for g in range(groups)), group_of)


def _identity_encoder(dim: int) -> object:
    """A stand-in encoder graph (the family folder needs one; latency is measured from the
    embedding on, where the two models differ)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["features"])], "stand-in",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", dim])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", dim])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


def paired_latencies(fns: tuple[Callable[[np.ndarray], object], ...], x: np.ndarray,
                     calls: int) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds (calls, len(fns)) of each call of each function on one vector, the
    functions taking turns (their order alternating from one call to the next): wall clock,
    and the calling thread's CPU time (ONNX Runtime on one thread computes on the caller's
    thread; CPU time leaves out the time other processes held the core)."""
    for i in range(10):
        for fn in fns:
            fn(x[i:i + 1])
    wall, cpu = np.empty((calls, len(fns))), np.empty((calls, len(fns)))
    clock, thread = time.perf_counter_ns, time.thread_time_ns
    for i in range(calls):
        row = x[i % len(x):i % len(x) + 1]
        turn = range(len(fns)) if i % 2 == 0 else range(len(fns) - 1, -1, -1)
        for j in turn:
            start, start_cpu = clock(), thread()
            fns[j](row)
            cpu[i, j], wall[i, j] = thread() - start_cpu, clock() - start
    return wall / 1e6, cpu / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=10_000)
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--per-class", type=int, default=1)
    ap.add_argument("--max-iter", type=int, default=8)
    ap.add_argument("--calls", type=int, default=2000, help="calls per round and model")
    ap.add_argument("--repeats", type=int, default=5, help="rounds of calls")
    args = ap.parse_args()
    pool = synthesize(args.classes, args.groups, args.dim, args.per_class)
    train = pool.rows("train")
    start = time.perf_counter()
    flat = flat_head(pool, train, 1e-4, args.max_iter)
    flat_s = time.perf_counter() - start
    start = time.perf_counter()
    members = fit_family(pool, {}, l2=1e-4, max_iter=args.max_iter)
    family_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "family"
        write_family(folder, "bench", members, pool, {}, [], _identity_encoder(args.dim),
                     Preprocessing(), {"backbone": "synthetic", "weights": "synthetic"}, {},
                     "bench/family.py")
        family = FamilyModel(folder, threads=1)
        head = HeadSpec("taxon", "species", "taxon", pool.classes)
        card = ModelCard(backbone="synthetic", heads=[head], preprocessing=Preprocessing(),
                         embeddings_from={"backbone": "synthetic"}, onnx="model.onnx",
                         outputs=["taxon", "embedding"])
        (Path(tmp) / "flat").mkdir()
        onnx.save(heads_only(card, {"taxon": (flat.weight, flat.bias)}, args.dim),
                  str(Path(tmp) / "flat" / "model.onnx"))
        write_card(card, Path(tmp) / "flat")
        flat_model = HeadsOnlyModel(Path(tmp) / "flat", threads=1)

        def flat_answer(x: np.ndarray) -> object:
            return softmax(flat_model.run(x, ["logits"])["logits"], flat_model.temperature)

        def family_answer(x: np.ndarray) -> object:
            return softmax(family.log_probs(x))

        x = pool.feats[pool.rows("val")]
        load_before = os.getloadavg()[0]
        rounds = [paired_latencies((flat_answer, family_answer), x, args.calls)
                  for _ in range(args.repeats)]
        load_after = os.getloadavg()[0]
    print(f"## Family of {args.classes:,} classes in {args.groups} groups "
          f"(d={args.dim}, {len(train):,} training vectors, L-BFGS at most {args.max_iter} "
          f"iterations; {args.repeats} rounds of {args.calls:,} calls per model, load "
          f"average {load_before:.1f} before, {load_after:.1f} after)\n")
    print("| | flat head | family | family / flat |\n|---|---|---|---|")
    print(f"| training (s) | {flat_s:.1f} | {family_s:.1f} | {family_s / flat_s:.2f}x |")
    for k, clock in enumerate(("wall clock", "CPU time")):
        med = np.array([np.median(r[k], axis=0) for r in rounds])  # (repeats, 2)
        p99 = np.array([np.percentile(r[k], 99, axis=0) for r in rounds])
        med_ratio, p99_ratio = med[:, 1] / med[:, 0], p99[:, 1] / p99[:, 0]
        mid = int(np.argsort(p99_ratio)[len(p99_ratio) // 2])
        print(f"| identification median (ms, {clock}), median round | {med[mid, 0]:.3f} | "
              f"{med[mid, 1]:.3f} | {med_ratio[mid]:.2f}x |")
        print(f"| identification p99 (ms, {clock}), median round | {p99[mid, 0]:.3f} | "
              f"{p99[mid, 1]:.3f} | {p99_ratio[mid]:.2f}x |")
        print(f"| p99 family / flat ({clock}), each round | | | "
              f"{', '.join(f'{r:.2f}x' for r in p99_ratio)} (worst {p99_ratio.max():.2f}x) |")
        print(f"| median family / flat ({clock}), each round | | | "
              f"{', '.join(f'{r:.2f}x' for r in med_ratio)} |")

if __name__ == "__main__":
    main()

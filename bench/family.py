"""A family at scale on synthetic embeddings: 10,000 classes in 8 groups (issue 23).

    python bench/family.py                         # 10,000 classes, 8 groups
    python bench/family.py --classes 2000 --max-iter 10   # quick run

Training cost: the family (main head + one shared head per group, each calibrated) against
one flat head over every class, both by the probe fit
(``fieldguide.training.probe.fit_linear_heads``, its own choice of optimiser: L-BFGS for
up to 2M photos x classes, mini-batches beyond, so the flat head's 10,000 x 10,000 goes to
mini-batches and each group's 1,250 x 1,250 to L-BFGS) on the same vectors.

Identification: one embedding at a time (as the service answers), P(taxon) over every
class, by the family (one ONNX call for the main and every group member side by side, then
``stacked_log_probs``) and by the flat head (its heads-only ONNX model and a log-softmax),
both on one thread; median and p99 latency and their ratio (target: family p99 <= 1.2x the
flat model's).
Prints Markdown.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from fieldguide.family.model import FamilyModel
from fieldguide.family.train import Pool, fit_family, flat_head, write_family
from fieldguide.models.card import HeadSpec, ModelCard, Preprocessing
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


def latencies(fn: object, x: np.ndarray, calls: int) -> np.ndarray:
    assert callable(fn)
    for i in range(5):
        fn(x[i:i + 1])
    out = []
    for i in range(calls):
        start = time.perf_counter()
        fn(x[i % len(x):i % len(x) + 1])
        out.append(time.perf_counter() - start)
    return np.array(out) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=10_000)
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--per-class", type=int, default=1)
    ap.add_argument("--max-iter", type=int, default=8)
    ap.add_argument("--calls", type=int, default=500)
    args = ap.parse_args()
    pool = synthesize(args.classes, args.groups, args.dim, args.per_class)
    train = pool.rows("train")
    start = time.perf_counter()
    flat = flat_head(pool, train, 1e-4, args.max_iter)
    flat_s = time.perf_counter() - start
    start = time.perf_counter()
    members = fit_family(pool, {}, l2=1e-4, max_iter=args.max_iter)
    family_s = time.perf_counter() - start

    import onnxruntime as ort
    from scipy.special import log_softmax

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "family"
        write_family(folder, "bench", members, pool, {}, [], _identity_encoder(args.dim),
                     Preprocessing(), {"backbone": "synthetic", "weights": "synthetic"}, {},
                     "bench/family.py")
        family = FamilyModel(folder, threads=1)
        head = HeadSpec("taxon", "species", "taxon", pool.classes)
        card = ModelCard(backbone="synthetic", heads=[head], preprocessing=Preprocessing())
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        session = ort.InferenceSession(
            heads_only(card, {"taxon": (flat.weight, flat.bias)}, args.dim)
            .SerializeToString(), opts, providers=["CPUExecutionProvider"])

        def flat_answer(x: np.ndarray) -> np.ndarray:
            out: np.ndarray = log_softmax(session.run(["taxon"], {"embedding": x})[0], axis=1)
            return out

        x = pool.feats[pool.rows("val")]
        # interleaved, so a busy machine slows both alike
        f_ms, m_ms = [], []
        for _ in range(5):
            f_ms.append(latencies(flat_answer, x, args.calls // 5))
            m_ms.append(latencies(family.log_probs, x, args.calls // 5))
        flat_ms, fam_ms = np.concatenate(f_ms), np.concatenate(m_ms)
    p99 = (float(np.percentile(flat_ms, 99)), float(np.percentile(fam_ms, 99)))
    print(f"## Family of {args.classes:,} classes in {args.groups} groups "
          f"(d={args.dim}, {len(train):,} training vectors, L-BFGS at most {args.max_iter} "
          "iterations)\n")
    print("| | flat head | family | family / flat |\n|---|---|---|---|")
    print(f"| training (s) | {flat_s:.1f} | {family_s:.1f} | {family_s / flat_s:.2f}x |")
    print(f"| identification median (ms) | {np.median(flat_ms):.2f} | {np.median(fam_ms):.2f}"
          f" | {np.median(fam_ms) / np.median(flat_ms):.2f}x |")
    print(f"| identification p99 (ms) | {p99[0]:.2f} | {p99[1]:.2f} | "
          f"{p99[1] / p99[0]:.2f}x |")


if __name__ == "__main__":
    main()

"""The head fit at many classes (issue 22): it learns where full-batch L-BFGS stopped at once,
it says so when nothing can be learned, and it stays in bounded memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fieldguide.errors import InputError
from fieldguide.models.card import HeadSpec
from fieldguide.models.heads import FieldguideNet, multi_head_loss
from fieldguide.training.headfit import StreamOptions, _numpy_batch, _Problem, fit_streaming
from fieldguide.training.probe import (
    NotLearned,
    ProbeFit,
    _fit_lbfgs,
    check_learned,
    fit_linear_heads,
    head_logits,
)
from fieldguide.training.spec import parse_spec


def _clusters(k: int, n: int, d: int, noise: float, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian classes around random centres: (centres, features, labels), every class
    present."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)).astype(np.float32)
    y = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    x = (centres[y] + noise * rng.normal(size=(n, d))).astype(np.float32)
    return centres, x, y


def _species(k: int) -> list[HeadSpec]:
    return [HeadSpec("taxon", "species", "taxon", tuple(f"s{i}" for i in range(k)))]


def test_learns_at_a_thousand_classes() -> None:
    """Issue 22's failure: 1,000 classes x 20,000 rows. The default fit now picks the
    mini-batch path and learns; the outcome it reported then (weights that score every class
    alike, loss ln 1000) is refused as not learned."""
    k, n, d = 1000, 20_000, 64
    centres, x, y = _clusters(k, n, d, 1.5)
    rng = np.random.default_rng(1)
    y_val = rng.integers(0, k, 4000)
    x_val = (centres[y_val] + 1.5 * rng.normal(size=(4000, d))).astype(np.float32)
    heads = _species(k)
    fit = fit_linear_heads(x, y[:, None], heads, {}, l2=1e-3, max_iter=300,
                           val=(x_val[:2000], y_val[:2000, None]))
    assert fit.optimiser == "sgd"
    held = (head_logits(fit, x_val[2000:], "taxon").argmax(1) == y_val[2000:]).mean()
    assert held > 0.8
    stuck = ProbeFit({"taxon": (np.zeros((k, d), np.float32), np.zeros(k, np.float32))},
                     float(np.log(k)), 7)
    with pytest.raises(NotLearned, match="did not learn"):
        check_learned(stuck, [x], y[:, None], heads[0], None, None)


@pytest.mark.parametrize("optimiser", ["lbfgs", "sgd"])
def test_says_when_nothing_was_learned(optimiser: str) -> None:
    """Constant features, and random labels on features too narrow to memorise them: no
    model, an error that says why."""
    rng = np.random.default_rng(0)
    k, n = 50, 2000
    y = rng.integers(0, k, n)
    for x in (np.ones((n, 8), np.float32), rng.normal(size=(n, 2)).astype(np.float32)):
        with pytest.raises(NotLearned, match="commonest class"):
            fit_linear_heads(x, y[:, None], _species(k), {}, l2=1e-3, max_iter=50,
                             optimiser=optimiser)


def test_shards_give_the_same_fit_as_one_array(tmp_path: Path) -> None:
    """Memory-mapped .npy shards (read-only, as the embedding store hands them over) give
    the fit of the same rows as one array."""
    _, x, y = _clusters(20, 3000, 16, 1.0)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"part-{i}.npy")
        np.save(paths[-1], x[i * 1000:(i + 1) * 1000])
    shards = [np.load(p, mmap_mode="r") for p in paths]
    opts = StreamOptions(epochs=3, block_rows=1000)
    one = fit_streaming(x, y[:, None], _species(20), {}, l2=1e-3, options=opts)
    parts = fit_streaming(shards, y[:, None], _species(20), {}, l2=1e-3, options=opts)
    for name in one.heads:
        for a, b in zip(one.heads[name], parts.heads[name], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert np.array_equal(np.asarray(shards[0]), x[:1000])  # the input is left as it was


class _Width(nn.Module):
    num_features = 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _three_heads() -> tuple[list[HeadSpec], dict[str, dict[str, str]]]:
    heads = [HeadSpec("taxon", "species", "taxon", ("a b", "a c", "d e")),
             HeadSpec("genus", "rank", "genus", ("a", "d")),
             HeadSpec("phenology", "trait", "phenology", ("0", "1"))]
    lineage = {"a b": {"genus": "a"}, "a c": {"genus": "a"}, "d e": {"genus": "d"}}
    return heads, lineage


def test_minibatch_loss_and_gradient_are_the_torch_loss() -> None:
    """One batch: the mini-batch fit's loss and gradients equal multi_head_loss's (class
    weights, logit adjustment, a genus head tied to the species head, a trait head)."""
    rng = np.random.default_rng(0)
    heads, lineage = _three_heads()
    model = FieldguideNet(_Width(), heads, lineage)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    y = np.stack([rng.integers(0, 3, 40), np.zeros(40, int), rng.integers(0, 2, 40)], 1)
    y[:, 1] = (y[:, 0] == 2).astype(int)
    y[:8, 0] = -1
    y[30:, 2] = -1
    weights = {"taxon": np.array([1.0, 2.0, 0.5], np.float32)}
    adjust = {"taxon": np.log(np.array([0.5, 0.3, 0.2])).astype(np.float32)}
    membership = {"genus": model.rank_genus.numpy()}
    problem = _Problem(heads, membership, weights, adjust, 0.0, np.zeros(6), np.ones(6))
    params = {n: [layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy()]
              for n, layer in model.linear.items()}
    loss, grads, _ = _numpy_batch(problem, params, x, y, grad=True)
    out = model.heads(torch.from_numpy(x))
    t = torch.from_numpy(y)
    want = multi_head_loss(out, {n: t[:, i] for i, n in enumerate(model.head_names)},
                           {"taxon": torch.from_numpy(weights["taxon"])},
                           {"taxon": torch.from_numpy(adjust["taxon"])})
    assert float(want.detach()) == pytest.approx(loss, rel=1e-5)
    want.backward()  # type: ignore[no-untyped-call]
    for name, layer in model.linear.items():
        assert layer.weight.grad is not None and layer.bias.grad is not None
        np.testing.assert_allclose(grads[name][0], layer.weight.grad.numpy(), atol=1e-5)
        np.testing.assert_allclose(grads[name][1], layer.bias.grad.numpy(), atol=1e-5)


def test_rank_and_trait_heads_are_trained() -> None:
    """Photos known only to genus still train the species head through the tied genus head,
    and a trait head learns beside it, on the mini-batch path."""
    rng = np.random.default_rng(2)
    heads, _ = _three_heads()
    membership = {"genus": np.log(np.array([[1, 0], [1, 0], [0, 1]], np.float64) + 1e-30)}
    n = 3000
    species = rng.integers(0, 3, n)
    trait = rng.integers(0, 2, n)
    x = np.zeros((n, 6), np.float32)
    x[np.arange(n), species] = 3.0
    x[np.arange(n), 3 + trait] = 3.0
    x += rng.normal(size=x.shape).astype(np.float32)
    y = np.stack([species, (species == 2).astype(int), trait], 1)
    y[: n // 2, 0] = -1  # half the photos are known only to genus
    y[n // 2:, 1] = -1
    fit = fit_linear_heads(x, y, heads, membership, l2=1e-4, max_iter=0, optimiser="sgd",
                           options=StreamOptions(epochs=5))
    assert set(fit.heads) == {"taxon", "phenology"}
    assert (head_logits(fit, x, "taxon").argmax(1) == species).mean() > 0.9
    assert (head_logits(fit, x, "phenology").argmax(1) == trait).mean() > 0.9


def test_memory_is_bounded_by_the_batch() -> None:
    """No (rows, classes) array: 40,000 rows x 1,000 classes would need 160 MB per float32
    array; the fit's Python allocations stay far below one."""
    k, n, d = 1000, 40_000, 16
    _, x, y = _clusters(k, n, d, 0.3)
    tracemalloc.start()
    try:
        fit_streaming(x, y[:, None], _species(k), {}, l2=1e-4,
                      options=StreamOptions(epochs=1, block_rows=8192))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * k * 4 / 4


def test_torch_on_the_cpu_matches_numpy() -> None:
    """The PyTorch path (what a GPU runs) reaches the NumPy path's accuracy."""
    _, x, y = _clusters(30, 3000, 16, 1.5)
    _, xv, yv = _clusters(30, 1000, 16, 1.5)  # the same centres: same seed
    got = {}
    for device in ("cpu", "torch-cpu"):
        fit = fit_streaming(x, y[:, None], _species(30), {}, l2=1e-3,
                            options=StreamOptions(epochs=3, device=device))
        got[device] = (head_logits(ProbeFit(fit.heads, fit.loss, fit.epochs), xv, "taxon")
                       .argmax(1) == yv).mean()
    assert got["torch-cpu"] == pytest.approx(got["cpu"], abs=0.01)


def test_small_problems_keep_lbfgs() -> None:
    """The main job's probe (a dozen classes, hundreds of photos) is fitted by the same
    L-BFGS as before, so its figures do not move."""
    _, x, y = _clusters(12, 720, 32, 1.0)
    fit = fit_linear_heads(x, y[:, None], _species(12), {}, l2=1e-3, max_iter=300)
    before = _fit_lbfgs(x, y[:, None], _species(12), {}, l2=1e-3, max_iter=300)
    assert fit.optimiser == "lbfgs"
    np.testing.assert_array_equal(fit.heads["taxon"][0], before.heads["taxon"][0])


def test_spec_checks_the_probe_optimiser() -> None:
    table = {"data": {"manifest": "m.csv"}, "probe": {"optimiser": "newton"}}
    with pytest.raises(InputError, match=r"probe\.optimiser"):
        parse_spec(table)
    table["probe"] = {"optimiser": "sgd", "device": "torch-cpu", "epochs": 3}
    assert parse_spec(table).probe.optimiser == "sgd"


@pytest.mark.parametrize("optimiser", ["lbfgs", "sgd"])
def test_starting_weights_are_a_fine_tune(optimiser: str) -> None:
    """``start_from``: the fit starts from given weights and its L2 penalty is on the
    distance from them: held hard, a few photos leave the weights where they were (the
    biases, free, still move); held lightly, it learns from the photos as a fit from the
    class means does."""
    k, d = 5, 16
    centres, x, y = _clusters(k, 2000, d, 0.8)
    rng = np.random.default_rng(1)
    y_val = rng.integers(0, k, 600)
    x_val = (centres[y_val] + 0.8 * rng.normal(size=(600, d))).astype(np.float32)
    heads = _species(k)
    shared = fit_linear_heads(x, y[:, None], heads, {}, l2=1e-3, max_iter=200,
                              optimiser=optimiser, val=(x_val, y_val[:, None]))
    start = shared.heads["taxon"]
    few = np.flatnonzero(y == 0)[:20]  # a source that sent 20 photos of one class
    options = StreamOptions(epochs=3)
    held = fit_linear_heads(x[few], y[few, None], heads, {}, l2=1.0, max_iter=200,
                            optimiser=optimiser, options=options, start_from={"taxon": start})
    w, b = held.heads["taxon"]
    assert np.abs(w - start[0]).max() < 0.05 * np.abs(start[0]).max()
    assert b[0] - start[1][0] > np.median(b - start[1])  # its one class: more likely
    light = fit_linear_heads(x, y[:, None], heads, {}, l2=1e-3, max_iter=200,
                             optimiser=optimiser, val=(x_val, y_val[:, None]),
                             start_from={"taxon": (np.zeros_like(start[0]), start[1])})
    assert (head_logits(light, x_val, "taxon").argmax(1) == y_val).mean() > 0.9

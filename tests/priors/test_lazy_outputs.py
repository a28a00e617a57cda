"""With more than TOP_K classes a prior's score and expected-nearby flags are lazy blocks
(fieldguide.priors.scored): here they equal the dense blocks the prior used to write (the
scored pairs' scores, NaN elsewhere; the nearby rule over every class), under both nearby
rules, on a real prior of 4,386 flowering-plant species (PhenoBase herbarium specimens), and
every consumer reads the same values from them: the posterior's rows, ``annotate.columns``
(prior_score, expected_nearby of the top class), ``_nearby_at_decision`` and the
risk-coverage table under ``require_nearby``."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fieldguide.identification.annotate import columns
from fieldguide.identification.class_values import ClassValues
from fieldguide.identification.decision import Rule, class_tree
from fieldguide.identification.posterior import _nearby_at_decision, posterior
from fieldguide.identification.risk import score_labelled
from fieldguide.priors import Context, Observations
from fieldguide.priors.counts import CountsPrior
from fieldguide.priors.kernels import top_classes
from fieldguide.priors.prior import MASS, TOP_K, clean_context
from tests.priors.test_top_classes import contexts, herbarium  # noqa: F401  (fixture)

Herbarium = tuple[CountsPrior, Observations]


def peaked_vision(n: int, k: int, seed: int) -> np.ndarray:
    """A trained model's output: a few plausible classes per photo, a long thin tail."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n)[:, None], rng.integers(0, k, (n, 5))] += rng.uniform(3, 14, (n, 5))
    vision = np.exp(logits - logits.max(axis=1, keepdims=True))
    out: np.ndarray = vision / vision.sum(axis=1, keepdims=True)
    return out


def dense_reference(prior: CountsPrior, vision: np.ndarray, context: Context,
                    classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The blocks as the prior wrote them before: NaN, the scored pairs' scores filled in,
    and the nearby rule applied to the located photos' whole rows."""
    ctx = clean_context(context)
    cols = prior.columns(classes)
    first, pos = top_classes(vision, cols >= 0, TOP_K, prior.floor, MASS)
    photo = np.repeat(np.arange(len(vision)), np.diff(first))
    _, sc, used = prior.evaluate_pairs(ctx, photo, cols[pos])
    score = np.full(vision.shape, np.nan)
    kept = used[photo]
    score[photo[kept], pos[kept]] = sc[kept]
    near = np.zeros(vision.shape, dtype=bool)
    located = used & ctx.located
    near[located] = prior.nearby(ctx.take(located), cols, score[located])
    return score, near


@pytest.mark.parametrize("rule", ["radius", "threshold"])
def test_lazy_blocks_equal_the_dense_ones(herbarium: Herbarium, rule: str) -> None:  # noqa: F811
    prior, obs = herbarium
    classes = [*prior.names, "Not a taxon of the prior"]
    ctx = contexts(obs, 400, 11)
    vision = peaked_vision(len(ctx), len(classes), 12)
    before = prior.rule
    prior.rule = rule
    try:
        out = prior.apply(vision, ctx, classes)
        score, near = dense_reference(prior, vision, ctx, classes)
    finally:
        prior.rule = before
    assert isinstance(out.score, ClassValues) and isinstance(out.expected_nearby, ClassValues)
    assert out.score.shape == score.shape == out.expected_nearby.shape
    assert np.array_equal(out.score.dense(), score, equal_nan=True)
    assert np.array_equal(out.expected_nearby.dense(), near)
    assert near.any() and not near.all() and np.isfinite(score).any()
    # NumPy's indexing forms the consumers use, on both blocks
    rng = np.random.default_rng(13)
    rows, cols = rng.integers(0, len(ctx), 500), rng.integers(0, len(classes), 500)
    mask = rng.random(len(ctx)) < 0.3
    for lazy, dense in ((out.score, score), (out.expected_nearby, near)):
        assert np.array_equal(lazy[rows, cols], dense[rows, cols], equal_nan=True)
        assert np.array_equal(lazy[7], dense[7], equal_nan=True)
        assert np.array_equal(lazy[-1, -1], dense[-1, -1], equal_nan=True)
        assert np.array_equal(lazy[3, dense[3] == dense[3]], dense[3, dense[3] == dense[3]],
                              equal_nan=True)
        assert np.array_equal(lazy[mask].dense(), dense[mask], equal_nan=True)
        assert np.array_equal(lazy[10:20][2:5].dense(), dense[12:15], equal_nan=True)
        assert np.array_equal(lazy[rows[:, None], cols[None, :8]], dense[rows[:, None],
                              cols[None, :8]], equal_nan=True)
        with pytest.raises(IndexError):
            lazy[len(ctx), 0]
        with pytest.raises(IndexError):
            lazy[:, 0]


def test_consumers_read_the_same_values(herbarium: Herbarium,  # noqa: F811
                                        shared_data: Path) -> None:
    prior, obs = herbarium
    source = shared_data / "observations" / "phenobase_herbarium_phenology" / "all_traits.csv"
    with source.open(newline="", encoding="utf-8") as f:
        family = {r["scientificname"]: r["family"] for r in csv.DictReader(f)}
    classes = list(prior.names)
    tree = class_tree(classes, {c: {"genus": c.split()[0], "family": family[c]}
                                for c in classes})
    ctx = contexts(obs, 600, 14)
    vision = peaked_vision(len(ctx), len(classes), 15)
    logits = np.log(vision)
    logits[::50] = np.nan                      # photos that failed: rows the prior never sees
    rule = Rule(threshold=0.5, require_nearby=True)
    post = posterior(logits, tree, classes=classes, priors=[prior], rule=rule, context=ctx)
    assert isinstance(post.prior_score, ClassValues)
    assert isinstance(post.expected_nearby, ClassValues)
    dense = replace(post, prior_score=post.prior_score.dense(),
                    expected_nearby=post.expected_nearby.dense())
    assert dense.expected_nearby is not None and dense.prior_score is not None
    assert dense.expected_nearby[::50].all()    # failed rows: as before, True ...
    assert np.isnan(dense.prior_score[::50]).all()   # ... and no score
    lazy_cols, dense_cols = columns(post, classes, 3, tree), columns(dense, classes, 3, tree)
    assert np.array_equal(lazy_cols["prior_score"], dense_cols["prior_score"], equal_nan=True)
    assert lazy_cols["expected_nearby"] == dense_cols["expected_nearby"]
    assert any(v is True for v in lazy_cols["expected_nearby"])
    assert any(v is False for v in lazy_cols["expected_nearby"])
    at_decision = _nearby_at_decision(post.expected_nearby, tree, post.decisions)
    assert np.array_equal(at_decision,
                          _nearby_at_decision(dense.expected_nearby, tree, post.decisions))
    assert at_decision.any() and not at_decision.all()
    labels = [classes[j] for j in np.nan_to_num(vision).argmax(axis=1)]
    lazy_run = score_labelled(post.probs, labels, classes, tree, rule, 1.0,
                              nearby=post.expected_nearby)
    dense_run = score_labelled(post.probs, labels, classes, tree, rule, 1.0,
                               nearby=dense.expected_nearby)
    assert lazy_run is not None and repr(lazy_run) == repr(dense_run)   # NaN shares too

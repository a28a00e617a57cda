"""The Pl@ntNet strategy: thesis arithmetic by hand, and exact agreement with peerannot."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldguide.votes import VoteTable, create
from fieldguide.votes.io import read_votes
from fieldguide.votes.plantnet import PlantNet
from tests.votes.conftest import answers_from_csv, load_json

peerannot_plantnet = pytest.importorskip("peerannot.models.aggregation.plantnet")


def test_weight_function_matches_the_spec() -> None:
    f = PlantNet().weight(np.array([0.0, 1.0, 2.0, 7.0, 8.0]))
    assert f[0] == pytest.approx(math.log(2.1))
    assert f[1] == pytest.approx(math.log(2.1))
    assert f[2] == pytest.approx(1.00, abs=0.01)
    assert round(f[3], 3) == 1.912
    assert round(f[4], 3) == 2.055


def _table(rows: list[tuple[Any, Any, Any]], **kw: Any) -> VoteTable:
    t, w, lab = zip(*rows, strict=True)
    return VoteTable.from_records(list(t), list(w), list(lab), **kw)


def test_three_new_users_agreeing_validate_but_one_does_not() -> None:
    # Three users at gamma = 0.742 each: conf = 2.226 >= 2, acc = 1 -> validated.
    votes = _table([("a", "u1", "x"), ("a", "u2", "x"), ("a", "u3", "x"), ("b", "u1", "y")])
    pn = PlantNet().fit(votes)
    assert pn.validated_.tolist() == [True, False]
    assert pn.labels_.tolist() == [0, 1]
    # u1 authored nothing: n = round(2 species * 0.1) = 0 -> weight stays gamma.
    assert pn.weights_ == pytest.approx(np.full(3, math.log(2.1)))


def test_author_species_count_raises_weight() -> None:
    # u1 authors 8 validated observations of 8 species, each confirmed by u2, u3 and u4.
    rows = [(f"o{k}", u, f"s{k}") for k in range(8) for u in ("u1", "u2", "u3", "u4")]
    votes = _table(rows, authors={f"o{k}": "u1" for k in range(8)})
    pn = PlantNet().fit(votes)
    assert pn.validated_.all()
    assert pn.n_species_[0] == 8  # 8 authored species
    assert pn.n_species_[1] == 1  # 8 voted species * 0.1 = 0.8 -> 1
    assert pn.weights_[0] == pytest.approx(2.055, abs=1e-3)  # self-validating
    # thesis rounds half up; peerannot rounds 0.5 to even (0)
    half = _table([(f"o{k}", u, f"s{k}") for k in range(5) for u in ("u1", "u2", "u3")])
    assert PlantNet().fit(half).n_species_[0] == 1
    assert PlantNet(peerannot_compat=True).fit(half).n_species_[0] == 0


def test_ai_modes_arithmetic() -> None:
    # One new user votes x; the AI says y with score 0.9 (task a) or 0.5 (task b).
    votes = _table([("a", "u1", "x"), ("b", "u1", "x"), ("c", "u2", "x"), ("c", "u3", "x"),
                    ("c", "u4", "x")],
                   ai_labels={"a": "y", "b": "y", "c": "x"}, ai_scores={"a": 0.9, "b": 0.5,
                                                                         "c": 0.1})
    g = math.log(2.1)
    fixed = PlantNet(ai="fixed").fit(votes)
    assert fixed.labels_.tolist() == [1, 1, 0]  # 1.7 > 0.742: the AI wins a and b
    assert fixed.conf_ == pytest.approx([1.7, 1.7, 3 * g + 1.7])
    assert fixed.acc_[0] == pytest.approx(1.7 / (1.7 + g))
    confident = PlantNet(ai="confident").fit(votes)
    assert confident.labels_.tolist() == [1, 0, 0]  # b's score 0.5 < 0.7: the AI stays out
    assert confident.conf_[1] == pytest.approx(g)
    plain = PlantNet().fit(votes)
    inval = PlantNet(ai="invalidating").fit(votes)
    assert inval.labels_.tolist() == plain.labels_.tolist()  # never chooses
    assert (inval.conf_ == plain.conf_).all()
    assert (inval.acc_ <= plain.acc_).all()  # only lowers acc
    assert inval.acc_[0] == pytest.approx(g / (g + 1.7))
    assert inval.acc_[2] == plain.acc_[2]  # the AI agreed: nothing changes
    worker = PlantNet(ai="worker").fit(votes)
    assert worker.ai_weight_ is not None


def test_compat_refuses_modes_peerannot_crashes_in() -> None:
    votes = _table([("a", "u1", "x")], ai_labels={"a": "x"})
    with pytest.raises(ValueError, match="crashes"):
        PlantNet(peerannot_compat=True, ai="invalidating").fit(votes)


def _peerannot(answers: dict[str, Any], **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    n_workers = max(int(w) for v in answers.values() for w in v if w != "AI") + 1
    n_classes = max(int(lab) for v in answers.values() for lab in v.values()) + 1
    ref = peerannot_plantnet.PlantNet(answers, n_classes=n_classes, n_workers=n_workers,
                                      output_unvalidated=True, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.run()
    return np.asarray(ref.get_answers()), np.asarray(ref.valid) == 1


def _assert_same(votes: VoteTable, answers: dict[str, Any], ai: str | None = None,
                 **kw: Any) -> None:
    ref_labels, ref_valid = _peerannot(answers, **kw)
    ours = PlantNet(peerannot_compat=True, ai=ai).fit(votes)
    order = votes.task_names.astype(int)
    assert (votes.label_names[ours.labels_] == ref_labels[order]).all()
    assert (ours.validated_ == ref_valid[order]).all()
    gated = np.where(ours.validated_, votes.label_names[ours.labels_], -1)
    assert (gated == np.where(ref_valid, ref_labels, -1)[order]).all()


@pytest.mark.parametrize("name", ["labelme", "dog", "product", "bluebirds", "music"])
def test_compat_equals_peerannot_on_crowd_datasets(votes_dir: Path, name: str) -> None:
    answers = answers_from_csv(votes_dir / name / "normalized" / "votes.csv")
    rows = [(int(t), int(w), lab) for t, by in answers.items() for w, lab in by.items()]
    _assert_same(_table(rows), answers)


def test_compat_equals_peerannot_on_toy_with_authors(votes_dir: Path) -> None:
    d = votes_dir / "plantnet_toy"
    votes = read_votes(d / "answers.json", authors=d / "authors.txt")
    _assert_same(votes, load_json(d / "answers.json"), authors=str(d / "authors.txt"))


@pytest.mark.filterwarnings("ignore::fieldguide.votes.io.LoadWarning")
@pytest.mark.parametrize("ai", [None, "fixed", "confident"])
def test_compat_equals_peerannot_on_crowdswe_sample(votes_dir: Path, ai: str | None) -> None:
    d = votes_dir / "plantnet_crowdswe_sample"
    answers, authors = load_json(d / "answers" / "answers.json"), d / "aggregation" / "authors.txt"
    kw: dict[str, Any] = {"authors": str(authors)}
    ai_path, scores = d / "aggregation" / "ai_answers.json", d / "aggregation" / "ai_scores.json"
    if ai is not None:
        ai_labels = load_json(ai_path)
        for task, by in answers.items():
            if task in ai_labels:
                by["AI"] = ai_labels[task]
        kw.update(AI=ai, AIweight=1.7, scores=str(scores), threshold_scores=0.7)
    votes = read_votes(d / "answers" / "answers.json", authors=authors,
                       ai=ai_path if ai else None, ai_scores=scores if ai else None)
    _assert_same(votes, answers, ai=ai, **kw)


votes_st = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 5), st.integers(0, 3)),
                    min_size=1, max_size=40, unique_by=lambda r: (r[0], r[1]))


@settings(max_examples=40, deadline=None)
@given(votes_st, st.randoms(use_true_random=False), st.booleans())
def test_relabelling_tasks_and_workers_changes_nothing(
        rows: list[tuple[int, int, int]], rnd: Any, compat: bool) -> None:
    tasks, workers = list(range(7)), list(range(6))
    rnd.shuffle(tasks)
    rnd.shuffle(workers)
    shuffled = [(f"t{tasks[t]}", f"w{workers[w]}", lab) for t, w, lab in rows]
    rnd.shuffle(shuffled)
    a = PlantNet(peerannot_compat=compat).fit(_table(rows))
    b_votes = _table(shuffled)
    b = PlantNet(peerannot_compat=compat).fit(b_votes)
    a_votes = _table(rows)
    back = {f"t{tasks[t]}": t for t in range(7)}
    perm = np.argsort([back[str(n)] for n in b_votes.task_names])
    assert (a.labels_ == b.labels_[perm]).all()
    assert (a.validated_ == b.validated_[perm]).all()
    assert len(a_votes.task_names) == len(perm)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 4)), min_size=1, max_size=30,
                unique_by=lambda r: r[0]))
def test_one_vote_per_task_returns_that_vote(rows: list[tuple[int, int]]) -> None:
    votes = _table([(t, f"u{t}", lab) for t, lab in rows])
    for method in ("plantnet", "majority", "wawa", "two-thirds"):
        labels = create(method).fit(votes).labels_
        assert (votes.label_names[labels] == [lab for _, lab in sorted(rows)]).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 3))
def test_unanimous_tasks_validate_iff_weight_clears_thresholds(n_voters: int, lab: int) -> None:
    votes = _table([("t", f"u{j}", lab) for j in range(n_voters)])
    pn = PlantNet().fit(votes)
    assert pn.acc_[0] == 1.0
    assert pn.validated_[0] == (n_voters * math.log(2.1) >= 2)

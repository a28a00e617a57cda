"""The walk-up rule on small trees: boundaries, ties, rank limits, missing taxa, geofence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldguide.identification.decision import (
    RANKS,
    Rule,
    class_tree,
    decide,
    haversine_km,
    rank_probabilities,
)
from fieldguide.identification.posterior import Context, Geofence

# a, b share genus G1; c is in G2; all in family F; d is missing from the taxonomy.
CLASSES = ["a", "b", "c", "d"]
TAX = {"a": {"genus": "G1", "family": "F"}, "b": {"genus": "G1", "family": "F"},
       "c": {"genus": "G2", "family": "F"}}
TREE = class_tree(CLASSES, TAX)


def run(p: list[float], **rule: object) -> tuple[str, str, float, bool]:
    probs = np.array([p])
    d = decide(rank_probabilities(probs, TREE), TREE.names, Rule(**rule), TREE.ranks)  # type: ignore[arg-type]
    return d.taxon[0], d.rank[0], float(d.probability[0]), bool(d.auto_validated[0])


def test_tree_places_classes_and_missing_taxa() -> None:
    assert TREE.names["genus"] == ("G1", "G2")
    assert TREE.member["genus"].tolist() == [0, 0, 1, -1]
    assert TREE.member["species"].tolist() == [0, 1, 2, 3]
    assert TREE.names["order"] == () and TREE.member["order"].tolist() == [-1] * 4


def test_rank_probabilities_sum_members() -> None:
    per = rank_probabilities(np.array([[0.1, 0.2, 0.3, 0.4]]), TREE)
    assert per["genus"][0].tolist() == pytest.approx([0.3, 0.3])
    assert per["family"][0].tolist() == pytest.approx([0.6])  # d's mass is not in F
    assert per["order"].shape == (1, 0)


def test_species_clearing_threshold_is_auto_validated() -> None:
    assert run([0.95, 0.05, 0, 0], threshold=0.9) == ("a", "species", 0.95, True)


def test_threshold_boundary_is_inclusive() -> None:
    assert run([0.5, 0.25, 0.25, 0], threshold=0.5)[:2] == ("a", "species")
    assert run([0.5, 0.25, 0.25, 0], threshold=np.nextafter(0.5, 1))[:2] == ("G1", "genus")


def test_walks_up_to_genus_then_family() -> None:
    assert run([0.5, 0.45, 0.05, 0], threshold=0.9) == ("G1", "genus", 0.95, False)
    assert run([0.4, 0.2, 0.4, 0], threshold=0.9) == ("F", "family", 1.0, False)


def test_nothing_clears_keeps_coarsest_best() -> None:
    taxon, rank, p, auto = run([0.3, 0.2, 0.1, 0.4], threshold=0.9)
    assert (taxon, rank, auto) == ("", "", False) and p == pytest.approx(0.6)


def test_ties_go_to_the_first_taxon() -> None:
    assert run([0.5, 0.5, 0, 0], threshold=0.5)[:2] == ("a", "species")
    assert run([0.25, 0.25, 0.25, 0.25], threshold=0.25)[:2] == ("a", "species")
    assert run([0.0, 0.25, 0.5, 0.25], threshold=0.5)[:2] == ("c", "species")


def test_rank_limits() -> None:
    assert run([0.95, 0.05, 0, 0], threshold=0.9, finest="genus") == ("G1", "genus", 1.0,
                                                                       False)
    assert run([0.95, 0.05, 0, 0], threshold=0.9, finest="genus",
               validate_rank="genus")[3] is True
    assert run([0.5, 0.45, 0.05, 0], threshold=0.99, coarsest="genus")[:2] == ("", "")
    assert run([0.4, 0.2, 0.4, 0], threshold=0.9, coarsest="species")[:2] == ("", "")
    assert run([0.4, 0.2, 0.4, 0], threshold=0.9, coarsest="order")[:2] == ("F", "family")


def test_missing_taxon_decides_only_at_species() -> None:
    assert run([0, 0, 0, 1.0], threshold=0.9) == ("d", "species", 1.0, True)
    assert run([0.05, 0, 0, 0.6], threshold=0.9, finest="genus")[:2] == ("", "")


@pytest.mark.parametrize("rule", [Rule(finest="genus", coarsest="species"),
                                  Rule(finest="subspecies"), Rule(threshold=1.5),
                                  Rule(validate_rank="tribe")])
def test_bad_rules_are_refused(rule: Rule) -> None:
    per = rank_probabilities(np.array([[1.0, 0, 0, 0]]), TREE)
    with pytest.raises(ValueError):
        decide(per, TREE.names, rule, TREE.ranks)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=4, max_size=4).filter(lambda v: sum(v) > 0),
       st.floats(0, 1), st.floats(0, 1))
def test_properties(raw: list[float], t1: float, t2: float) -> None:
    """Decided probabilities clear the bar; a stricter bar never decides at a finer rank."""
    probs = np.array([raw]) / sum(raw)
    per = rank_probabilities(probs, TREE)
    lo, hi = sorted((t1, t2))
    a = decide(per, TREE.names, Rule(threshold=lo), RANKS)
    b = decide(per, TREE.names, Rule(threshold=hi), RANKS)
    if a.rank[0]:
        assert a.probability[0] >= lo
    order = {r: i for i, r in enumerate(RANKS)} | {"": len(RANKS)}
    assert order[b.rank[0]] >= order[a.rank[0]]


def test_haversine_known_distance() -> None:
    paris_london = haversine_km(np.array(48.8566), np.array(2.3522), np.array(51.5074),
                                np.array(-0.1278))
    assert float(paris_london) == pytest.approx(343.5, abs=1.0)


def test_geofence_keeps_only_nearby_taxa() -> None:
    ctx = Context(np.array([52.0, 10.0, np.nan]), np.array([5.0, 10.0, np.nan]),
                  np.full(3, np.nan))
    fence = Geofence(["a", "c"], np.array([52.1, 10.0]), np.array([5.1, 10.2]), 50.0)
    classes = ["a", "b", "c", "d"]
    allowed = fence.nearby(ctx, classes)
    assert allowed.tolist() == [[True, False, False, False], [False, False, True, False],
                                [True] * 4]
    fenced = fence.apply(np.full((3, 4), 0.25), ctx, classes).probs
    assert fenced.tolist()[0] == [0.25, 0, 0, 0]  # not renormalised
    d = decide(rank_probabilities(fenced, TREE), TREE.names, Rule(threshold=0.2), RANKS)
    assert d.taxon == ["a", "c", "a"]


def test_a_class_decision_reports_the_class_own_rank() -> None:
    """A species class reports "species", a folder label with no rank reports none, and a
    class that is a genus reports "genus" and is not auto-validated at species (issue #21)."""
    from fieldguide.identification.decision import class_level_ranks

    classes = ["Bellis perennis", "bluebell", "Quercus"]
    lineage = {"Bellis perennis": {"species": "Bellis perennis", "genus": "Bellis"},
               "bluebell": {"genus": "Hyacinthoides"},
               "Quercus": {"genus": "Quercus", "family": "Fagaceae"}}
    tree = class_tree(classes, lineage)
    assert tree.class_rank == ("species", "", "genus")
    rule = Rule(0.5, "species", "family", "species")
    d = class_level_ranks(tree, decide(rank_probabilities(np.eye(3), tree), tree.names, rule,
                                       tree.ranks), rule)
    assert d.taxon == classes
    assert d.rank == ["species", "", "genus"]
    assert d.auto_validated.tolist() == [True, True, False]

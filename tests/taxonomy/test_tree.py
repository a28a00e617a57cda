"""Taxonomy tree: construction, hierarchy queries, ancestor_at_rank and roll-ups."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldguide.errors import InputError
from fieldguide.taxonomy import MAIN_RANKS, UNASSIGNED, Taxonomy

# Plantae > Tracheophyta > Magnoliopsida > Brassicales > Brassicaceae > Alliaria > A. petiolata
# with siblings (real iNaturalist ids), plus an unranked clade and a genus-less species.
ROWS = [
    (47126, None, "Plantae", "kingdom"),
    (211194, 47126, "Tracheophyta", "phylum"),
    (47125, 211194, "Magnoliopsida", "class"),
    (71275, 47125, "Brassicales", "order"),
    (47124, 47125, "Fabales", "order"),
    (47123, 71275, "Brassicaceae", "family"),
    (54832, 47123, "Alliaria", "genus"),
    (55752, 54832, "Alliaria petiolata", "species"),
    (51151, 47123, "Brassica", "genus"),
    (51152, 51151, "Brassica rapa", "species"),
    (51153, 51151, "Brassica oleracea", "species"),
    (999001, 51153, "Brassica oleracea var. capitata", "variety"),
    (47122, 47124, "Fabaceae", "family"),
    (900000, 47122, "Fabaceae clade X", "no rank"),
    (900001, 900000, "Lotus corniculatus", "species"),
]


@pytest.fixture
def tax() -> Taxonomy:
    ids, parents, names, ranks = zip(*ROWS, strict=True)
    return Taxonomy.from_parents(ids, list(parents), list(names), list(ranks))


def test_lookups(tax: Taxonomy) -> None:
    assert len(tax) == len(ROWS)
    assert 55752 in tax and 1 not in tax
    assert tax.name(55752) == "Alliaria petiolata"
    assert tax.rank(999001) == "variety"
    assert tax.parent(55752) == 54832 and tax.parent(47126) is None
    assert tax.depth(47126) == 0 and tax.depth(55752) == 6
    assert tax.ids_by_name("ALLIARIA  PETIOLATA (M.Bieb.) Cavara & Grande") == [55752]
    assert tax.ids_by_name("Alliaria officinalis") == []
    with pytest.raises(InputError, match="123"):
        tax.index(123)


def test_ancestors_descendants_lca(tax: Taxonomy) -> None:
    assert tax.ancestors(55752) == [54832, 47123, 71275, 47125, 211194, 47126]
    assert tax.ancestors(55752, include_self=True)[0] == 55752
    assert sorted(tax.descendants(51151)) == [51152, 51153, 999001]
    assert len(tax.descendants(47126)) == len(ROWS) - 1
    assert tax.descendants(55752) == []
    assert tax.lca(55752, 51152) == 47123
    assert tax.lca(55752, 900001) == 47125
    assert tax.lca(51151, 999001) == 51151
    assert sorted(tax.children(47123)) == [51151, 54832]
    assert set(tax.leaves().tolist()) == {55752, 51152, 999001, 900001}


def test_homonyms_kept(tax: Taxonomy) -> None:
    t = Taxonomy.from_parents([1, 2, 3, 4], [None, 1, 1, 3], ["A", "Ozotheca", "B", "Ozotheca"],
                              ["kingdom", "genus", "phylum", "genus"])
    assert sorted(t.ids_by_name("Ozotheca")) == [2, 4]


def test_ancestor_at_rank(tax: Taxonomy) -> None:
    ids = np.array([999001, 55752, 900001, 47123, 47126])
    assert tax.ancestor_at_rank(ids, "genus").tolist() == [51151, 54832, -1, -1, -1]
    assert tax.ancestor_at_rank(ids, "family").tolist() == [47123, 47123, 47122, 47123, -1]
    assert tax.ancestor_at_rank(ids, "species").tolist() == [51153, 55752, 900001, -1, -1]
    assert tax.ancestor_at_rank(ids, "kingdom").tolist() == [47126] * 5
    with pytest.raises(InputError):
        tax.ancestor_at_rank(ids, "megafamily")


def test_rollup_sums_and_unassigned(tax: Taxonomy) -> None:
    leaves = np.array([55752, 51152, 999001, 900001])
    scores = np.array([[0.5, 0.2, 0.2, 0.1], [0.0, 0.0, 0.0, 1.0]])
    out = tax.rollup(scores, leaves)
    assert set(out) == set(MAIN_RANKS)
    fam = out["family"]
    assert fam.taxon_ids.tolist() == [47122, 47123, UNASSIGNED]
    np.testing.assert_allclose(fam.scores, [[0.1, 0.9, 0.0], [1.0, 0.0, 0.0]])
    genus = out["genus"]
    assert genus.taxon_ids.tolist() == [51151, 54832, UNASSIGNED]
    np.testing.assert_allclose(genus.scores[1], [0.0, 0.0, 1.0])  # Lotus has no genus here
    for rank_scores in out.values():
        np.testing.assert_allclose(rank_scores.scores.sum(axis=1), scores.sum(axis=1))


def test_rollup_shape_checked(tax: Taxonomy) -> None:
    with pytest.raises(InputError):
        tax.rollup(np.ones((2, 3)), [55752, 51152])


def test_cycle_refused_naming_an_id() -> None:
    with pytest.raises(InputError, match=r"cycle through taxon id (2|3|4)"):
        Taxonomy.from_parents([1, 2, 3, 4], [None, 4, 2, 3], list("abcd"), ["genus"] * 4)
    with pytest.raises(InputError, match="cycle through taxon id 5"):
        Taxonomy.from_parents([5], [5], ["self"], ["genus"])


def test_dangling_parent_refused() -> None:
    with pytest.raises(InputError, match="taxon id 2 has parent 77"):
        Taxonomy.from_parents([1, 2], [None, 77], ["a", "b"], ["genus", "species"])


def test_duplicate_ids_refused() -> None:
    with pytest.raises(InputError, match="taxon id 1 appears more than once"):
        Taxonomy.from_parents([1, 1], [None, None], ["a", "b"], ["genus", "genus"])


def test_parent_ids_as_nan_and_minus_one() -> None:
    t = Taxonomy.from_parents([1, 2, 3], [np.nan, 1.0, -1.0], ["a", "b", "c"], [None] * 3)
    assert t.roots().tolist() == [1, 3]


def test_from_rank_columns_dedupes_paths() -> None:
    rows = {
        "taxon_kingdom_name": ["Plantae", "Plantae", "Plantae", "", None],
        "taxon_family_name": ["Brassicaceae", "Brassicaceae", "Brassicaceae", "", None],
        "taxon_genus_name": ["Alliaria", "Alliaria", "Brassica", "", None],
        "taxon_species_name": ["Alliaria petiolata", "Alliaria petiolata", "", "", None],
    }
    tax, leaf = Taxonomy.from_rank_columns(rows)
    assert len(tax) == 5
    assert leaf[0] == leaf[1] and tax.name(int(leaf[0])) == "Alliaria petiolata"
    assert tax.name(int(leaf[2])) == "Brassica" and tax.rank(int(leaf[2])) == "genus"
    assert leaf[3] == -1 and leaf[4] == -1
    assert tax.ancestors(int(leaf[0])) == [tax.ids_by_name(n)[0] for n in
                                           ("Alliaria", "Brassicaceae", "Plantae")]


def test_from_rank_columns_unknown_column() -> None:
    with pytest.raises(InputError, match="not a known rank"):
        Taxonomy.from_rank_columns({"taxon_colour_name": ["red"]})


@st.composite
def random_trees(draw: st.DrawFn) -> tuple[Taxonomy, list[int]]:
    """Random forests: node i's parent is any earlier node (or none); random main ranks."""
    n = draw(st.integers(1, 40))
    parents: list[int | None] = [None]
    for i in range(1, n):
        parents.append(draw(st.one_of(st.none(), st.integers(0, i - 1))))
    ranks = draw(st.lists(st.sampled_from([*MAIN_RANKS, "tribe", None]), min_size=n, max_size=n))
    ids = [10 * i + 7 for i in range(n)]
    pids = [None if p is None else ids[p] for p in parents]
    tax = Taxonomy.from_parents(ids, pids, [f"T{i}" for i in range(n)], ranks)
    leaves = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=15))
    return tax, leaves


@settings(max_examples=60, deadline=None)
@given(random_trees(), st.integers(1, 4), st.integers(0, 2**31))
def test_rollup_preserves_row_totals(case: tuple[Taxonomy, list[int]], n: int, seed: int) -> None:
    tax, leaves = case
    scores = np.random.default_rng(seed).random((n, len(leaves)))
    for rank, (taxa, mat) in tax.rollup(scores, leaves).items():
        assert mat.shape == (n, len(taxa)) and taxa[-1] == UNASSIGNED
        np.testing.assert_allclose(mat.sum(axis=1), scores.sum(axis=1))
        anc = tax.ancestor_at_rank(leaves, rank)
        for j, t in enumerate(taxa[:-1]):  # each column is the sum of its leaves
            np.testing.assert_allclose(mat[:, j], scores[:, anc == t].sum(axis=1))
        for leaf, a in zip(leaves, anc.tolist(), strict=True):  # agrees with the slow walk
            chain = tax.ancestors(leaf, include_self=True)
            expected = next((c for c in chain if tax.rank(c) == rank), -1)
            assert a == expected


@settings(max_examples=40, deadline=None)
@given(random_trees())
def test_depth_and_lca_match_slow_walk(case: tuple[Taxonomy, list[int]]) -> None:
    tax, leaves = case
    for t in leaves:
        assert tax.depth(t) == len(tax.ancestors(t))
    a, b = leaves[0], leaves[-1]
    common = set(tax.ancestors(a, True)) & set(tax.ancestors(b, True))
    expected = next((c for c in tax.ancestors(a, True) if c in common), None)
    assert tax.lca(a, b) == expected

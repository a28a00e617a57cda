"""Community taxon: hand checks, a brute-force reference, and iNaturalist's real outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldguide.votes.community_taxon import CommunityTaxon
from fieldguide.votes.table import VoteTable

#        life
#       /    \
#   genus G   genus H
#    /   \       |
#   s1   s2     s3
TREE: dict[str, str | None] = {"life": None, "G": "life", "H": "life", "s1": "G", "s2": "G",
                               "s3": "H"}
LEVELS = {"life": 100.0, "G": 20.0, "H": 20.0, "s1": 10.0, "s2": 10.0, "s3": 10.0}


def fit(rows: list[tuple[Any, Any, Any]], **params: Any) -> tuple[CommunityTaxon, VoteTable]:
    votes = VoteTable.from_records(*zip(*rows, strict=True))
    return CommunityTaxon(TREE, rank_levels=LEVELS, **params).fit(votes), votes


def test_hand_checked_observations() -> None:
    rows = [(1, "a", "s1"), (1, "b", "s1"), (1, "c", "s2"),   # s1 at 2/3 exactly: genus G
            (2, "a", "s1"), (2, "b", "s1"), (2, "c", "s1"), (2, "d", "s2"),  # s1 at 3/4
            (3, "a", "s1"),                                   # one identification: none
            (4, "a", "s1"), (4, "b", "s3"),                   # across genera: life
            (5, "a", "G"), (5, "b", "s1"),                    # s1 has one ID only: G
            (6, "a", "G"), (6, "b", "s1"), (6, "c", "s1")]    # now s1 has two: s1
    ct, _ = fit(rows)
    assert ct.taxa_.tolist() == ["G", "s1", None, "life", "G", "s1"]
    assert ct.conf_.tolist() == [3, 3, 0, 2, 2, 2]
    assert ct.acc_.tolist() == pytest.approx([1, 0.75, 0, 1, 1, 1])
    assert ct.validated_.tolist() == [False, True, False, False, False, True]
    assert ct.label_names_[ct.labels_[3]] == "life"  # ancestors join the label space


def test_explicit_ancestor_disagreement_counts_against_the_rejected_branch() -> None:
    rows = [(1, "a", "s1"), (1, "b", "s1"), (1, "c", "G")]
    assert fit(rows)[0].taxa_.tolist() == ["s1"]  # a plain genus ID is not a disagreement
    # c's genus ID said "not s1": s1 scores 2 / (2 + 0 + 1), not above 2/3.
    ct, _ = fit(rows, disagreements={(1, "c"): "s1"})
    assert ct.taxa_.tolist() == ["G"]
    # A disagreeing ID of a taxon that is not an ancestor of the rejected one changes nothing.
    assert fit(rows, disagreements={(1, "c"): "s3"})[0].taxa_.tolist() == ["s1"]


def test_without_a_taxonomy_it_is_the_two_thirds_rule() -> None:
    votes = VoteTable.from_records([1, 1, 1, 2, 2, 2, 2], list("abcabcd"), list("xxyxxxy"))
    ct = CommunityTaxon().fit(votes)
    assert ct.taxa_.tolist() == [None, "x"]
    assert ct.validated_.tolist() == [False, True]


def test_a_cycle_is_refused() -> None:
    votes = VoteTable.from_records([1, 1], ["a", "b"], ["x", "x"])
    with pytest.raises(ValueError, match="cycle"):
        CommunityTaxon({"x": "y", "y": "x"}).fit(votes)


# -- brute force: never finer than what 2/3 support -----------------------------------------

def reference(rows: list[tuple[int, int, str]]) -> dict[int, str | None]:
    """The rule written out per observation, with Python loops."""
    def line(t: str) -> list[str]:
        out = [t]
        while (p := TREE[out[-1]]) is not None:
            out.append(p)
        return out
    result: dict[int, str | None] = {}
    latest = {(t, w): lab for t, w, lab in rows}  # last row per (task, worker) wins
    for task in sorted({t for t, _ in latest}):
        ids = [lab for (t, _), lab in latest.items() if t == task]
        best: str | None = None
        for cand in {a for i in ids for a in line(i)}:
            cum = sum(cand in line(i) for i in ids)
            dis = sum(cand not in line(i) and i not in line(cand) for i in ids)
            if cum >= 2 and cum / (cum + dis) > 2 / 3 and (
                    best is None or len(line(cand)) > len(line(best))):
                best = cand
        result[task] = best
    return result


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.sampled_from(sorted(TREE))),
                min_size=1, max_size=40))
def test_matches_the_rule_written_out(rows: list[tuple[int, int, str]]) -> None:
    ct, votes = fit(rows)
    assert dict(zip(votes.task_names.tolist(), ct.taxa_.tolist(), strict=True)) == reference(rows)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.sampled_from(sorted(TREE))),
                min_size=1, max_size=40), st.permutations(range(6)), st.permutations(range(6)))
def test_renaming_tasks_and_workers_changes_nothing(rows: list[tuple[int, int, str]],
                                                     tperm: list[int], wperm: list[int]) -> None:
    a, va = fit(rows)
    b, vb = fit([(tperm[t], wperm[w], lab) for t, w, lab in rows])
    got = dict(zip(vb.task_names.tolist(), b.taxa_.tolist(), strict=True))
    assert {tperm[t]: x for t, x in zip(va.task_names.tolist(), a.taxa_.tolist(),
                                        strict=True)} == got


# -- real iNaturalist identifications -------------------------------------------------------

def inat_inputs(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, int | None],
                                       dict[int, float], dict[tuple[int, int], int]]:
    """Identifications, observations, parents, rank levels and explicit disagreements.

    Parents come from the '/'-joined root-to-leaf ``taxon_ancestor_ids`` of every
    identification (current or not) and observation, with the taxon appended where the path
    stops short of it. Rank levels come from the identifications; the 4 identifications
    without a taxon object are of their observation's taxon, whose rank name gives the level.
    """
    ids = pd.read_csv(folder / "identifications.csv")
    obs = pd.read_csv(folder / "observations.csv")
    parents: dict[int, int | None] = {}
    for path, taxon in [*zip(ids.taxon_ancestor_ids, ids.taxon_id, strict=True),
                        *zip(obs.taxon_ancestor_ids, obs.taxon_id, strict=True)]:
        if isinstance(path, str):
            line = [int(x) for x in path.split("/")]
            line += [] if line[-1] == taxon else [int(taxon)]
            for parent, child in zip([None, *line[:-1]], line, strict=True):
                parents.setdefault(child, parent)
    known = ids.dropna(subset=["taxon_rank_level"])
    by_rank = dict(zip(known.taxon_rank, known.taxon_rank_level, strict=True))
    levels = {int(t): by_rank[r] for t, r in zip(obs.taxon_id, obs.taxon_rank, strict=True)
              if r in by_rank}
    levels |= dict(zip(known.taxon_id.astype(int), known.taxon_rank_level, strict=True))
    current = ids[ids.current]
    explicit = current[current.disagreement.astype(str) == "True"]
    disagreements = {(int(o), int(u)): int(p) for o, u, p in zip(
        explicit.observation_id, explicit.user_id, explicit.previous_observation_taxon_id,
        strict=True)}
    return current, obs, parents, levels, disagreements


def test_reproduces_inaturalist_community_taxon_and_research_grade(shared_data: Path) -> None:
    """All 33 observations agree on the community taxon and on research grade.

    Nothing had to be excused: the 3 casual observations (12826267 lacks a location; the
    others' casual cause is in data-quality votes not in the file) each have a single
    current identification, so they have no community taxon and are not research grade on
    identifications alone either.
    """
    current, obs, parents, levels, disagreements = inat_inputs(
        shared_data / "inat_api" / "inat_identifications_flat")
    votes = VoteTable.from_records(current.observation_id.to_numpy(),
                                   current.user_id.to_numpy(), current.taxon_id.to_numpy())
    ct = CommunityTaxon(parents, rank_levels=levels, disagreements=disagreements).fit(votes)
    got = pd.DataFrame({"cid": ct.taxa_, "research": ct.validated_}, index=votes.task_names)
    real = obs.set_index("observation_id")
    got = got.reindex(real.index)  # observations without a current identification: none here
    expect_cid = [None if np.isnan(c) else int(c) for c in real.community_taxon_id]
    differ = [o for o, a, b in zip(real.index, got.cid, expect_cid, strict=True) if a != b]
    assert differ == []
    assert (got.research.to_numpy() == (real.quality_grade == "research").to_numpy()).all()
    assert len(got) == 33 and got.research.sum() == 9

"""Rank vocabulary: iNaturalist levels and the synonyms other sources use."""

from __future__ import annotations

import pytest

from fieldguide.taxonomy import MAIN_RANKS, normalise_rank, rank_level


@pytest.mark.parametrize(
    ("rank", "level"),
    [
        ("stateofmatter", 100), ("kingdom", 70), ("phylum", 60), ("class", 50), ("order", 40),
        ("superfamily", 33), ("epifamily", 32), ("family", 30), ("tribe", 25), ("genus", 20),
        ("genushybrid", 20), ("section", 13), ("complex", 11), ("species", 10), ("hybrid", 10),
        ("subspecies", 5), ("variety", 5), ("form", 5), ("infrahybrid", 5),
    ],
)
def test_inaturalist_levels(rank: str, level: float) -> None:
    assert rank_level(rank) == level


@pytest.mark.parametrize(
    ("alias", "rank"),
    [("varietas", "variety"), ("forma", "form"), ("subsp.", "subspecies"),
     ("ssp.", "subspecies"), ("var.", "variety"), (" Species ", "species")],
)
def test_synonyms(alias: str, rank: str) -> None:
    assert normalise_rank(alias) == rank
    assert rank_level(alias) == rank_level(rank)


@pytest.mark.parametrize("rank", [None, "", "no rank", "no rank - terminal", "clade"])
def test_no_rank_has_no_level(rank: str | None) -> None:
    assert rank_level(rank) is None


def test_unknown_rank_has_no_level_but_is_kept() -> None:
    assert rank_level("megafamily") is None
    assert normalise_rank("Megafamily") == "megafamily"


def test_main_ranks_ordered_most_inclusive_first() -> None:
    assert MAIN_RANKS[0] == "kingdom" and MAIN_RANKS[-1] == "species"
    levels = [rank_level(r) for r in MAIN_RANKS]
    assert levels == sorted(levels, reverse=True)  # type: ignore[type-var]

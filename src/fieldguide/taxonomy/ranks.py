"""Rank vocabulary with iNaturalist's numeric rank levels.

Levels let ranks from different sources be compared (a "varietas" from NCBI and a "variety" from
iNaturalist are the same level) and let a tree be cut at a rank even where a lineage skips it.
"""

from __future__ import annotations

from typing import Final

#: iNaturalist's rank levels (higher = more inclusive). Ranks sharing a level are alternatives.
RANK_LEVELS: Final[dict[str, float]] = {
    "stateofmatter": 100,
    "kingdom": 70,
    "subkingdom": 67,
    "phylum": 60,
    "subphylum": 57,
    "superclass": 53,
    "class": 50,
    "subclass": 47,
    "infraclass": 45,
    "subterclass": 44,
    "superorder": 43,
    "order": 40,
    "suborder": 37,
    "infraorder": 35,
    "parvorder": 34.5,
    "zoosection": 34,
    "zoosubsection": 33.5,
    "superfamily": 33,
    "epifamily": 32,
    "family": 30,
    "subfamily": 27,
    "supertribe": 26,
    "tribe": 25,
    "subtribe": 24,
    "genus": 20,
    "genushybrid": 20,
    "subgenus": 15,
    "section": 13,
    "subsection": 12,
    "complex": 11,
    "species": 10,
    "hybrid": 10,
    "subspecies": 5,
    "variety": 5,
    "form": 5,
    "infrahybrid": 5,
}

#: Spellings used by other sources (NCBI, GBIF, botanical abbreviations) for the ranks above.
RANK_SYNONYMS: Final[dict[str, str]] = {
    "varietas": "variety",
    "var.": "variety",
    "var": "variety",
    "forma": "form",
    "f.": "form",
    "fo.": "form",
    "subsp.": "subspecies",
    "subsp": "subspecies",
    "ssp.": "subspecies",
    "ssp": "subspecies",
    "regnum": "kingdom",
    "divisio": "phylum",
    "division": "phylum",
    "classis": "class",
    "ordo": "order",
    "familia": "family",
    "nothospecies": "hybrid",
    "nothosubspecies": "infrahybrid",
    "nothovariety": "infrahybrid",
    "nothogenus": "genushybrid",
    "species group": "complex",
    "species complex": "complex",
}

#: Ranks that carry no level: NCBI's "no rank" (and OTT's "no rank - terminal"), clades, blanks.
UNRANKED: Final[frozenset[str]] = frozenset(
    {"", "no rank", "no rank - terminal", "clade", "unranked", "rank", "none"}
)

#: The seven Linnaean ranks that roll-ups and label sets are cut at, most inclusive first.
MAIN_RANKS: Final[tuple[str, ...]] = (
    "kingdom",
    "phylum",
    "class",
    "order",
    "family",
    "genus",
    "species",
)

#: The same seven, finest first: the order a walk-up visits them and lineages are listed in.
MAIN_RANKS_FINEST_FIRST: Final[tuple[str, ...]] = tuple(reversed(MAIN_RANKS))

#: Ranks whose names are hybrids (see ``names.is_hybrid``).
HYBRID_RANKS: Final[frozenset[str]] = frozenset({"hybrid", "genushybrid", "infrahybrid"})


def normalise_rank(rank: str | None) -> str | None:
    """Return the vocabulary spelling of ``rank`` (lower case, synonyms resolved).

    Unknown ranks are returned lower-cased rather than refused, because sources invent ranks
    (OTT's "no rank - terminal"); ``None`` for blanks and "no rank".
    """
    if rank is None:
        return None
    key = " ".join(rank.strip().lower().split())
    if key in UNRANKED:
        return None
    return RANK_SYNONYMS.get(key, key)


def rank_level(rank: str | None) -> float | None:
    """Numeric iNaturalist level of ``rank`` (species 10, genus 20 ...); None if it has none."""
    name = normalise_rank(rank)
    if name is None:
        return None
    return RANK_LEVELS.get(name)

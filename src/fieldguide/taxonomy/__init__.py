"""Taxonomy: rank vocabulary, name parsing, an array-backed taxon tree, readers, harmonisation.

Every label in fieldguide is a taxon; this package says which taxon a name means (across
iNaturalist, GBIF, NCBI spellings) and how taxa nest, fast enough for million-taxon trees.
"""

from __future__ import annotations

from fieldguide.taxonomy.crosswalk import CrosswalkReport, evaluate_crosswalk
from fieldguide.taxonomy.harmonise import Match, NameMatcher, summarise
from fieldguide.taxonomy.io import SynonymTable, read_inat_taxa_csv, read_interim
from fieldguide.taxonomy.names import canonical_name, is_hybrid, is_linnaean, parse_name
from fieldguide.taxonomy.ranks import MAIN_RANKS, normalise_rank, rank_level
from fieldguide.taxonomy.tree import UNASSIGNED, RankScores, Taxonomy

__all__ = [
    "MAIN_RANKS",
    "UNASSIGNED",
    "CrosswalkReport",
    "Match",
    "NameMatcher",
    "RankScores",
    "SynonymTable",
    "Taxonomy",
    "canonical_name",
    "evaluate_crosswalk",
    "is_hybrid",
    "is_linnaean",
    "normalise_rank",
    "parse_name",
    "rank_level",
    "read_inat_taxa_csv",
    "read_interim",
    "summarise",
]

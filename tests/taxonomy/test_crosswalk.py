"""The real measurement: NCBI Asterales names mapped onto GBIF, scored against OTT's links."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldguide.taxonomy import CrosswalkReport, evaluate_crosswalk

OTT = "taxonomy/ott_asterales_gbif_ncbi"


@pytest.fixture(scope="module")
def report(shared_data: Path) -> CrosswalkReport:
    base = shared_data / OTT
    return evaluate_crosswalk(base / "ncbi_aster", base / "gbif_aster", base / "prev_aster")


def test_share_correct_floor(report: CrosswalkReport) -> None:
    # measured 2043 / 2059 = 99.22%; the misses are taxonomic moves (Pseudocodon ->
    # Codonopsis) or GBIF duplicates (Campanula caespitosa / cespitosa), not name handling
    assert report.n_source == 15_258
    assert report.n_checked == 2059
    assert report.share_correct >= 0.985


def test_precision_of_matches(report: CrosswalkReport) -> None:
    # measured 99.71% (6 wrong); over every mapped pair the merge knows, 2043 agree
    assert report.precision >= 0.99
    assert report.n_wrong <= 10
    assert report.n_pairs_agree >= 2000
    assert report.n_pairs_conflict <= 0.08 * (report.n_pairs_agree + report.n_pairs_conflict)


def test_methods_counted(report: CrosswalkReport) -> None:
    by = report.by_method
    assert sum(by.values()) == report.n_source
    assert by["exact"] > 3000 and by["synonym"] > 100 and by["fuzzy"] > 50
    assert report.wrong_by_method.get("canonical", 0) == 0
    assert report.table().startswith("| figure | value |")

"""Tiny hand-made studies: taxa, observations and photos written straight into the tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from fieldguide.store import Study

# (taxon_id, name, rank, parent_id, is_hybrid)
TAXA = [
    (1, "Plantae", "kingdom", None, False),
    (2, "Asteraceae", "family", 1, False),
    (3, "Rudbeckia", "genus", 2, False),
    (4, "Rudbeckia hirta", "species", 3, False),
    (5, "Rudbeckia laciniata", "species", 3, False),
    (6, "Rudbeckia hirta pulcherrima", "subspecies", 4, False),
    (7, "Rudbeckia × hybrida", "species", 3, True),
    (8, "Helianthus", "genus", 2, False),
    (9, "Helianthus annuus", "species", 8, False),
]


@pytest.fixture
def study(tmp_path: Path) -> Iterator[Study]:
    with Study(tmp_path / "study") as s:
        s.con.executemany(
            "INSERT INTO taxa (taxon_id, name, rank, parent_id, is_hybrid) VALUES (?, ?, ?, ?, ?)",
            TAXA,
        )
        yield s


def add_observations(study: Study, rows: Sequence[dict[str, Any]]) -> None:
    """Each row: id, taxon, observer, optional year, photos (count), grade, lat, lon."""
    for r in rows:
        year = r.get("year", 2015)
        study.con.execute(
            "INSERT INTO observations (observation_id, source, observer, observed_on, taxon_id, "
            "quality_grade, latitude, longitude) VALUES (?, 't', ?, ?, ?, ?, ?, ?)",
            [r["id"], r["observer"], f"{year}-06-01", r["taxon"], r.get("grade", "research"),
             r.get("lat"), r.get("lon")],
        )
        for k in range(r.get("photos", 1)):
            study.con.execute(
                "INSERT INTO photos (photo_id, observation_id, position, url) VALUES (?, ?, ?, ?)",
                [f"{r['id']}-{k}", r["id"], k + 1, f"http://x/{r['id']}-{k}.jpg"],
            )

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldguide.store import Study
from tests.photos.server import PhotoServer, running

CAP = 16_000  # bytes: every photo served is under it except BIG
BIG = "big.jpg"


@pytest.fixture(scope="session")
def flowers(shared_data: Path) -> dict[str, bytes]:
    """Forty real JPEGs under the cap (smallest first) and one over it, by name."""
    folder = shared_data / "images" / "oxford_flowers12"
    paths = sorted(folder.rglob("*.jpg"), key=lambda p: (p.stat().st_size, p.name))
    out = {f"{p.parent.name}-{p.stem}.jpg": p.read_bytes() for p in paths[:40]}
    big = paths[-1].read_bytes()
    assert len(big) > CAP > max(len(b) for b in out.values())
    out[BIG] = big
    return out


@pytest.fixture
def server(flowers: dict[str, bytes]) -> Iterator[PhotoServer]:
    with running(flowers) as s:
        yield s


def add_photos(study: Study, urls: dict[str, str | None], licence: str = "CC-BY") -> None:
    """One observation per photo, photo id = the dict key."""
    with study.transaction() as con:
        for i, (photo_id, url) in enumerate(urls.items()):
            con.execute("INSERT INTO observations (observation_id, source, license) "
                        "VALUES (?, 'test', ?)", [f"obs-{i}", licence])
            con.execute("INSERT INTO photos (photo_id, observation_id, position, url) "
                        "VALUES (?, ?, 1, ?)", [photo_id, f"obs-{i}", url])


def photo_rows(study: Study) -> dict[str, dict[str, object]]:
    table = study.con.sql("SELECT * FROM photos").to_arrow_table().to_pylist()
    return {str(r["photo_id"]): r for r in table}


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())

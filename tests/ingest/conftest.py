from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldguide.store import Study


@pytest.fixture
def study(tmp_path: Path) -> Iterator[Study]:
    with Study(tmp_path / "study") as s:
        yield s


def snapshot(study: Study) -> dict[str, int]:
    """Row counts of every table: what 'nothing changed' is checked against."""
    return study.counts()

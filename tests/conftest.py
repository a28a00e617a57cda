"""Shared test fixtures. Real data is read where it lies, in ../shared/data beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FIELDGUIDE_SHARED", REPO.parent / "shared")) / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; the suite needs it (CI lays it beside the clone)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA} (set FIELDGUIDE_SHARED)")
    return SHARED_DATA

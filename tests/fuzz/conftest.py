"""What every fuzz test shares: bounded hypothesis settings, a seeded study, and the check
that an input is either ingested or refused cleanly.

Profiles (``FIELDGUIDE_FUZZ``): ``ci`` (default: derandomised, so CI runs the same examples
every time, 50 per test: all fuzz tests in about two minutes on two cores) and ``deep``
(random, 400 per test, for hunting by hand). ``FIELDGUIDE_FUZZ_EXAMPLES`` overrides the count.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from fieldguide.errors import InputError
from fieldguide.store import TABLES, Study

_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                              HealthCheck.data_too_large, HealthCheck.filter_too_much],
}
settings.register_profile("ci", derandomize=True, max_examples=50, **_COMMON)
settings.register_profile("deep", derandomize=False, max_examples=400, **_COMMON)
_profile = settings.get_profile(os.environ.get("FIELDGUIDE_FUZZ", "ci"))
FUZZ = settings(_profile, max_examples=int(os.environ.get("FIELDGUIDE_FUZZ_EXAMPLES",
                                                          _profile.max_examples)))
SEED_EXPORT = "inat_api/pyinaturalist_convert_sample_data/observations_export.csv"


@pytest.fixture
def study(tmp_path: Path, shared_data: Path) -> Iterator[Study]:
    """One study per test (shared by its examples), holding a real 47-row export, so that
    ids already in the study, photos and traits have something to meet."""
    from fieldguide.ingest import ingest_inat_csv

    with Study(tmp_path / "study") as s:
        ingest_inat_csv(s, shared_data / SEED_EXPORT)
        yield s


class Workdirs:
    """A fresh folder per example (examples share the test's tmp_path)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def new(self) -> Path:
        self.count += 1
        folder = self.root / f"example-{self.count}"
        folder.mkdir(parents=True)
        return folder


@pytest.fixture
def workdirs(tmp_path: Path) -> Workdirs:
    return Workdirs(tmp_path / "inputs")


def fingerprint(study: Study) -> dict[str, tuple[Any, ...]]:
    """Row count and an order-free checksum of every table of the study."""
    out = {}
    for name in TABLES:
        row = study.con.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::VARCHAR, chr(10) "
            f"ORDER BY t::VARCHAR), '')) FROM {name} t").fetchone()
        out[name] = tuple(row or ())
    return out


def ingested_or_refused(study: Study | None, where: Path, call: Callable[[], object]) -> None:
    """Run ``call``: it may succeed, or raise :class:`InputError` as one line naming a file
    under ``where``, with the study unchanged. Any other exception fails the test."""
    before = fingerprint(study) if study is not None else None
    try:
        call()
    except InputError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, f"not one line: {message!r}"
        assert exc.path is not None and exc.path.startswith(str(where)), (
            f"names no file under {where}: {message!r}")
        if study is not None:
            assert fingerprint(study) == before, f"study changed by a refusal: {message!r}"

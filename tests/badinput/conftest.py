"""A small study every bad-input case runs against, and a fingerprint of all its tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.badinput.corpus import good_files


def fieldguide(*args: str, study: Path | None = None, timeout: float = 60,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess (the installed entry point's ``main``)."""
    argv = [sys.executable, "-m", "fieldguide.cli.main", *args]
    if study is not None and "-s" not in args and args[0] not in ("identify", "train"):
        argv += ["-s", str(study)]
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    full_env.pop("FIELDGUIDE_DEBUG", None)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env)


def fingerprint(study: Path) -> dict[str, tuple[int, str]]:
    """Row count and an order-free checksum of every table."""
    import duckdb

    from fieldguide.store import TABLES

    con = duckdb.connect(str(study / "fieldguide.duckdb"), read_only=True)
    try:
        return {
            name: tuple(con.execute(  # type: ignore[misc]
                f"SELECT count(*), md5(coalesce(string_agg(t::VARCHAR, chr(10) "
                f"ORDER BY t::VARCHAR), '')) FROM {name} t").fetchall()[0])
            for name in TABLES
        }
    finally:
        con.close()


@pytest.fixture(scope="session")
def base_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("badinput")
    good = good_files(root / "good")
    study = root / "study"
    done = fieldguide("ingest", "votes", str(good["ingested"]), study=study)
    assert done.returncode == 0, done.stderr
    return study, good

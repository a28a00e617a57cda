"""SIGKILL in the middle of a command, then the same command again: the study opens and holds
exactly what a clean run writes (each write is one transaction; nothing is half-written), and
a dataset folder rebuilt after a kill equals one built without."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from fieldguide.curation.synthetic import make_synthetic_study
from fieldguide.store import Study
from tests.badinput.conftest import fieldguide, fingerprint

ROWS = 1_000_000


def _kill(args: list[str], study: Path, when: Callable[[], bool], limit: float = 60) -> bool:
    """Start the CLI, SIGKILL it as soon as ``when()`` holds; True when it was killed while
    still running (False: it finished first, so the test proves less but still checks)."""
    proc = subprocess.Popen([sys.executable, "-m", "fieldguide.cli.main", *args, "-s",
                             str(study)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + limit
    while proc.poll() is None and not when() and time.monotonic() < deadline:
        time.sleep(0.01)
    running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return running


def _after(seconds: float) -> Callable[[], bool]:
    start = time.monotonic()
    return lambda: time.monotonic() - start >= seconds


def _table(study: Path, query: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(study / "fieldguide.duckdb"), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_sigkill_during_ingest_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    votes = tmp_path / "votes.csv"
    with votes.open("w") as f:
        f.write("task,worker,label\n")
        f.writelines(f"{i // 3},w{i % 7},l{i % 11}\n" for i in range(ROWS))
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert fieldguide("ingest", "votes", str(votes), study=clean).returncode == 0
    fieldguide("init", study=killed)
    _kill(["ingest", "votes", str(votes)], killed, _after(1.5))
    again = fieldguide("ingest", "votes", str(votes), study=killed)
    assert again.returncode == 0, again.stderr
    a, b = fingerprint(clean), fingerprint(killed)
    for table in ("identifications", "observations", "labels", "predictions"):
        assert a[table] == b[table], table
    assert a["imports"][0] == b["imports"][0] == 1


def test_sigkill_during_aggregate_into_the_study_then_rerun(tmp_path: Path) -> None:
    """Killed as the labels are being written (labels.csv exists: the study write is next, or
    under way): the study holds all of the labels or none, and the rerun a clean run's."""
    votes = tmp_path / "votes.csv"
    with votes.open("w") as f:
        f.write("task,worker,label\n")
        f.writelines(f"{i // 5},w{i % 97},l{(i * 7919) % 13 if i % 3 else i % 5}\n"
                     for i in range(200_000))
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for study in (clean, killed):
        assert fieldguide("ingest", "votes", str(votes), study=study).returncode == 0
    args = ["aggregate", "-m", "weighted"]
    done = fieldguide(*args, "-o", str(tmp_path / "clean.csv"), study=clean, timeout=300)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "killed.csv"
    assert _kill([*args, "-o", str(out)], killed, out.exists, limit=300)
    stored = _table(killed, "SELECT count(*) FROM labels")[0][0]
    assert stored in (0, 40_000), stored  # all or nothing
    again = fieldguide(*args, "-o", str(out), study=killed, timeout=300)
    assert again.returncode == 0, again.stderr
    query = ("SELECT observation_id, method, label, conf, acc, validated FROM labels "
             "ORDER BY observation_id")
    assert _table(killed, query) == _table(clean, query)
    a, b = fingerprint(clean), fingerprint(killed)
    for table in ("identifications", "observations"):
        assert a[table] == b[table], table
    assert a["imports"][0] == b["imports"][0] == 1


SPEC = """name = "killed"
seed = 3

[[step]]
rule = "validated"
quality_grade = ["research"]

[[step]]
rule = "select_taxa"
min_photos = 20
min_observations = 5
min_observers = 2

[split]
method = "random"
train = 0.8
val = 0.1
test = 0.1

[output]
formats = ["parquet", "csv"]
plots = false
"""


def test_sigkill_during_dataset_build_then_rerun_equals_a_clean_build(tmp_path: Path) -> None:
    """Killed once the manifest is being written: the study is untouched (a build only reads
    it) and the rebuilt folder equals a clean build's, file for file."""
    clean = tmp_path / "clean"
    with Study(clean) as study:
        make_synthetic_study(study, observations=200_000, taxa=2_000, observers=5_000)
    killed = tmp_path / "killed"
    killed.mkdir()
    shutil.copy(clean / "fieldguide.duckdb", killed / "fieldguide.duckdb")
    before = fingerprint(killed)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    built = fieldguide("dataset", "build", str(spec), "-o", str(tmp_path / "ds-clean"),
                       study=clean, timeout=300)
    assert built.returncode == 0, built.stderr
    out = tmp_path / "ds-killed"
    assert _kill(["dataset", "build", str(spec), "-o", str(out)], killed,
                 (out / "manifest.parquet").exists, limit=300)
    assert not (out / "steps.json").exists()  # killed before the build's end
    assert fingerprint(killed) == before
    again = fieldguide("dataset", "build", str(spec), "-o", str(out), study=killed,
                       timeout=300)
    assert again.returncode == 0, again.stderr
    for name in ("manifest.csv", "classes.csv"):
        assert (out / name).read_bytes() == (tmp_path / "ds-clean" / name).read_bytes(), name
    con = duckdb.connect()
    rows = [con.execute("SELECT * FROM read_parquet(?) ORDER BY photo_id",
                        [str(d / "manifest.parquet")]).fetchall()
            for d in (out, tmp_path / "ds-clean")]
    assert rows[0] == rows[1] and len(rows[0]) > 1000

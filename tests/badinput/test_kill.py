"""SIGKILL in the middle of an ingest, then the same command again: the study opens and holds
exactly what a clean run writes (the import is one transaction; nothing is half-written)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.badinput.conftest import fieldguide, fingerprint

ROWS = 1_000_000


def _kill_midway(args: list[str], study: Path, after: float) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "fieldguide.cli.main", *args, "-s",
                             str(study)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_during_ingest_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    votes = tmp_path / "votes.csv"
    with votes.open("w") as f:
        f.write("task,worker,label\n")
        f.writelines(f"{i // 3},w{i % 7},l{i % 11}\n" for i in range(ROWS))
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert fieldguide("ingest", "votes", str(votes), study=clean).returncode == 0
    fieldguide("init", study=killed)
    _kill_midway(["ingest", "votes", str(votes)], killed, after=1.5)
    again = fieldguide("ingest", "votes", str(votes), study=killed)
    assert again.returncode == 0, again.stderr
    a, b = fingerprint(clean), fingerprint(killed)
    for table in ("identifications", "observations", "labels", "predictions"):
        assert a[table] == b[table], table
    assert a["imports"][0] == b["imports"][0] == 1

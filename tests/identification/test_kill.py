"""A run killed with SIGKILL midway and restarted writes exactly the rows of a run that was
never interrupted: no photo lost, none written twice."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.identification.conftest import write_photos

CLI = "from fieldguide.cli.main import main; main()"


def command(model: Path, source: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", CLI, "identify", str(model), str(source), "-o", str(out),
            "--chunk-size", "16", "--batch-size", "8", "--threads", "1"]


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path: Path,
                                                          tiny_model: Path) -> None:
    source = tmp_path / "photos.csv"
    with source.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["photo_id", "path", "observation_id"])
        for i, (path, _) in enumerate(write_photos(tmp_path / "img", 480, (320, 240))):
            w.writerow([f"ph{i}", path, f"obs{i // 4}"])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    killed = tmp_path / "killed.csv"
    parts = tmp_path / ".killed.csv.parts"
    proc = subprocess.Popen(command(tiny_model, source, killed), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list(parts.glob("part-*.npz"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(parts.glob("part-*.npz")))
    assert not killed.exists() and 3 <= done < 30, "the kill must land midway"
    subprocess.run(command(tiny_model, source, killed), env=env, check=True,
                   capture_output=True)
    whole = tmp_path / "whole.csv"
    subprocess.run(command(tiny_model, source, whole), env=env, check=True, capture_output=True)
    with killed.open() as f:
        ids = [r["photo_id"] for r in csv.DictReader(f)]
    assert ids == [f"ph{i}" for i in range(480)]
    assert killed.read_bytes() == whole.read_bytes()
    obs = tmp_path / "killed.observations.csv"
    assert obs.read_bytes() == (tmp_path / "whole.observations.csv").read_bytes()

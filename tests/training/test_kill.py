"""SIGKILL during ``fieldguide train`` (a real process, killed between epochs or mid-write),
then ``train --resume``: the model equals that of an uninterrupted run (issue #10)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.training.conftest import tiny_spec
from tests.training.test_cli import _toml


def _train(spec: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "fieldguide.cli.main", "train", str(spec),
                             "-o", str(out), *extra], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def test_sigkill_mid_training_then_resume(photos: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(_toml(tiny_spec(photos, tmp_path / "unused", optim__epochs=4)))
    whole = _train(spec, tmp_path / "whole")
    assert whole.wait(timeout=600) == 0, whole.stderr.read() if whole.stderr else ""

    killed = _train(spec, tmp_path / "killed")
    ckpt = tmp_path / "killed" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 600
    while not ckpt.is_file() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert killed.poll() is None, "training finished before it could be killed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed" / "model" / "model.json").exists()

    resumed = _train(spec, tmp_path / "killed", "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read() if resumed.stderr else ""
    a = load_file(str(tmp_path / "whole" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "model" / "model.safetensors"))
    for key, value in a.items():
        torch.testing.assert_close(b[key], value, rtol=1e-5, atol=1e-6, msg=key)
    rows = (tmp_path / "killed" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4"]  # no epoch lost or doubled

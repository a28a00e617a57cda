"""`fieldguide identify` runs where torch is not installed (``pip install fieldguide`` without
the ``train`` extra): the CLI is run in a subprocess in which ``import torch`` fails, as it
would without the package, so any torch import on the identification path breaks the run."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from tests.identification.conftest import write_photos
from tests.notorch import NO_TORCH

BLOCK = NO_TORCH + """
from fieldguide.cli.main import main
sys.argv = ["fieldguide", *sys.argv[1:]]
main()
"""


def test_identify_and_calibrate_run_without_torch(tmp_path: Path, tiny_model: Path) -> None:
    rows = write_photos(tmp_path / "img", 6)
    listing = tmp_path / "photos.csv"
    with listing.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["photo_id", "path", "label", "split"])
        w.writerows((f"p{i}", p, lab, "val") for i, (p, lab) in enumerate(rows))
    for args in (["calibrate", str(tiny_model), str(listing)],
                 ["identify", str(tiny_model), str(listing), "-o", str(tmp_path / "out.csv")]):
        done = subprocess.run([sys.executable, "-c", BLOCK, *args], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    assert (tmp_path / "out.csv").read_text().count("\n") == 7

"""What a training run returns and the per-epoch history it writes (torch-free)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainResult:
    out: Path
    model_dir: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False


def write_history(out: Path, history: list[dict[str, Any]]) -> None:
    (out / "metrics.json").write_text(json.dumps(history, indent=2) + "\n")
    with (out / "metrics.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)

"""Helpers for the vote tests: the real datasets with truth, and peerannot's input shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

WITH_TRUTH = ["labelme", "dog", "product", "bluebirds", "plantnet_toy",
              "plantnet_crowdswe_sample"]


@pytest.fixture(scope="session")
def votes_dir(shared_data: Path) -> Path:
    return shared_data / "votes"


def answers_from_csv(path: Path) -> dict[str, dict[str, Any]]:
    """normalized/votes.csv as peerannot's {task: {worker: label}}, ids renumbered 0..n-1.

    peerannot indexes arrays by task and worker id, so ids must be dense; renumbering in
    sorted order keeps the codes VoteTable gives.
    """
    import pandas as pd

    df = pd.read_csv(path)
    for col in ("task", "worker"):
        df[col] = pd.factorize(df[col], sort=True)[0]
    answers: dict[str, dict[str, Any]] = {}
    for t, w, lab in df[["task", "worker", "label"]].itertuples(index=False):
        answers.setdefault(str(t), {})[str(w)] = int(lab)
    return answers


def load_json(path: Path) -> Any:
    with path.open() as f:
        return json.load(f)

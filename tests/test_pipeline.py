from __future__ import annotations

from pathlib import Path

from fieldguide.pipeline import run_sample_study
from fieldguide.store import Study
from fieldguide.store.sql import scalar


def test_sample_study_runs_and_a_rerun_resumes_without_duplicates(
    tmp_path: Path, shared_data: Path
) -> None:
    steps: list[str] = []
    with Study(tmp_path / "s") as study:
        run_sample_study(study, shared_data, on_step=lambda name, text: steps.append(text))
        counts = study.counts()
        assert counts["observations"] == 960 + 5408 + 5461 + 1310 + 1625
        assert scalar(study.con, "SELECT count(*) FROM labels WHERE method = 'plantnet'") == 1625
        run_sample_study(study, shared_data)
        assert study.counts() == counts
    assert len(steps) == 6

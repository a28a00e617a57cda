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


def test_photo_steps_run_on_the_onnx_only_backbone(tmp_path: Path, shared_data: Path) -> None:
    """The main job's photo steps pointed at dinov2-s14 by one option run end to end on real
    flower photos (linked where they lie): dataset, probe, evaluation, calibration,
    rejection, identification; a folder trained on another backbone is refused."""
    import pytest

    from fieldguide.errors import InputError
    from fieldguide.models.card import read_card
    from fieldguide.photo_pipeline import PhotoRun, photo_steps

    source = shared_data / "images" / "oxford_flowers12"
    photos = tmp_path / "photos"
    for split, n in (("train", 8), ("test", 3)):
        for label in ("daisy", "iris", "pansy", "sunflower"):
            folder = photos / split / label
            folder.mkdir(parents=True)
            for path in sorted((source / split / label).glob("*.jpg"))[:n]:
                (folder / path.name).symlink_to(path.resolve())
    run = PhotoRun(tmp_path / "out", ["dinov2-s14"])
    texts = {}
    with Study(tmp_path / "s") as study:
        for name, step in photo_steps(photos, run):
            texts[name.split(":")[0]] = step(study)
        card = read_card(run.model)
        assert card.backbones == ["dinov2-s14"] and card.temperature is not None
        assert "rejection" in card.extras
        assert "top-1" in texts["evaluate"] and run.identified.is_file()
        other = PhotoRun(tmp_path / "out", ["lite0"])
        with pytest.raises(InputError, match="probe on dinov2-s14, not lite0"):
            dict(photo_steps(photos, other))["train: linear probe on lite0 (shipped weights)"](
                study)
        _report_agrees_with_rows(run.lines, run.identified)


def _report_agrees_with_rows(lines: list[str], identified: Path) -> None:
    """The report's risk-coverage row at identify's threshold (0.90) says what the written
    rows say: the share auto-validated (rejected photos never are) and their precision."""
    import csv

    table = next(line for line in lines if line.startswith("- identification of the test"))
    row = next(r for r in table.splitlines() if r.startswith("| 0.90 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    with identified.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] and not r["error"]]
    auto = [r for r in rows if r["auto_validated"] == "true"]
    assert not any(r["rejected"] == "true" for r in auto)
    assert cells[1] == f"{len(auto) / len(rows):.1%}"
    right = sum(r["taxon"] == r["label"] for r in auto)
    assert cells[2] == (f"{right / len(auto):.2%}" if auto else "nan%")

"""Label noise (issue #26 point 5): 20 flower training photos given wrong labels rise to the top
of ``fieldguide dataset noise``; the scores are pure functions of probabilities; the ranking
file is read back checked; the ``label_noise`` rule flags or drops, and the report lists the
top."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fieldguide.curation import build_dataset, parse_spec, write_report
from fieldguide.errors import InputError
from fieldguide.store import Study
from fieldguide.training.noise import (
    class_thresholds,
    noise_scores,
    read_noise,
    stratified_folds,
)
from tests.curation.conftest import add_observations

REPO = Path(__file__).resolve().parents[2]
WRONG = 20


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}"
           f"{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "fieldguide.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def mislabelled(shared_data: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[Path, dict[str, str]]:
    """A copy of the flowers' manifest (all 960 photos, read where they lie) with 20 seeded
    training photos relabelled as another species; returns it and {photo: true label}."""
    root = shared_data / "images" / "oxford_flowers12"
    with (root / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    classes = sorted({r["label"] for r in rows})
    rng = np.random.default_rng(26)
    train = [i for i, r in enumerate(rows) if r["split"] == "train"]
    flipped = {}
    for i in rng.choice(train, WRONG, replace=False):
        true = rows[i]["label"]
        rows[i] = {**rows[i], "label": classes[(classes.index(true) + rng.integers(1, 12)) % 12]}
        flipped[rows[i]["path"]] = true
    out = tmp_path_factory.mktemp("noise") / "manifest.csv"
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["photo_id", "path", "split", "taxon"])
        writer.writerows([r["path"], str(root / r["path"]), r["split"], r["label"]]
                         for r in rows)
    return out, flipped


def test_twenty_wrong_labels_rise_to_the_top(mislabelled: tuple[Path, dict[str, str]]) -> None:
    """Acceptance: at least 14 of the 20 wrong labels are in the top 40 of 960 (measured: all
    20 in the top 24 with lite0), and the suggested label is mostly the true one."""
    manifest, flipped = mislabelled
    out = manifest.parent / "ranked.csv"
    done = cli("dataset", "noise", str(manifest), "-o", str(out),
               "--cache", str(manifest.parent / "cache"))
    assert done.returncode == 0, done.stderr
    assert "960 photos ranked" in done.stdout
    table = read_noise(out)
    top = table.photo_id[:40]
    found = [p for p in top if p in flipped]
    assert len(found) >= 14, (len(found), top)
    right = sum(table.suggested[table.photo_id.index(p)] == flipped[p] for p in found)
    assert right >= 0.8 * len(found)
    assert list(table.noise_score) == sorted(table.noise_score, reverse=True)
    assert set(table.split) == {"train", "test"}


def test_scores_are_one_minus_the_given_labels_probability() -> None:
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    y = np.array([0, 1, 1, 2])
    t = class_thresholds(probs, y)
    assert np.allclose(t, [0.9, 0.5, 0.7])
    s = noise_scores(probs, y, t)
    assert np.allclose(s.score, [0.1, 0.3, 0.7, 0.3])
    assert s.suggested.tolist() == [1, 0, 0, 1]
    # row 2: p(class 0) = 0.6 < t_0 = 0.9, p(class 2) = 0.1 < 0.7 -> not an issue by CL's rule
    assert s.issue.tolist() == [False, False, False, False]
    assert noise_scores(probs, y, np.array([0.5, 0.5, 0.5])).issue.tolist() == [
        False, False, True, False]


def test_folds_are_stratified_and_seeded() -> None:
    y = np.repeat(np.arange(3), [10, 7, 5])
    f = stratified_folds(y, 5, seed=1)
    for label in range(3):
        counts = np.bincount(f[y == label], minlength=5)
        assert counts.max() - counts.min() <= 1
    assert (stratified_folds(y, 5, seed=1) == f).all()


def _write_noise(path: Path, rows: list[list[object]]) -> Path:
    head = "rank,photo_id,path,split,label,suggested,p_label,p_suggested,noise_score,label_issue"
    path.write_text(head + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return path


def test_bad_ranking_rows_are_one_line(tmp_path: Path) -> None:
    path = _write_noise(tmp_path / "noise.csv", [
        [1, "a-0", "a.jpg", "train", "x", "y", 0.1, 0.8, 0.9, "true"],
        [2, "b-0", "b.jpg", "train", "x", "y", 0.5, 0.4, 1.5, "false"]])
    with pytest.raises(InputError) as err:
        read_noise(path)
    assert (err.value.line, err.value.field) == (3, "noise_score")
    (tmp_path / "short.csv").write_text("photo_id,noise_score\na,0.5\n")
    with pytest.raises(InputError, match="missing column 'rank'"):
        read_noise(tmp_path / "short.csv")


def test_cli_refuses_unknown_backbone_and_too_few_photos(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("photo_id,path,split,taxon\na,a.jpg,train,x\nb,b.jpg,train,y\n")
    bad = cli("dataset", "noise", str(manifest), "--backbone", "lite9")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "lite9" in bad.stderr and "did you mean" in bad.stderr
    few = cli("dataset", "noise", str(manifest))
    assert few.returncode == 2 and "fewer than the 5 folds" in few.stderr
    folds = cli("dataset", "noise", str(manifest), "--folds", "1")
    assert folds.returncode == 2


def test_rule_flags_for_review_or_drops_and_report_lists_top(tmp_path: Path) -> None:
    with Study(tmp_path / "study") as study:
        study.con.executemany(
            "INSERT INTO taxa (taxon_id, name, rank, parent_id, is_hybrid) VALUES (?,?,?,?,?)",
            [(1, "Plantae", "kingdom", None, False), (4, "Rudbeckia hirta", "species", 1, False),
             (5, "Bellis perennis", "species", 1, False)])
        add_observations(study, [{"id": f"o{i}", "taxon": 4 + i % 2, "observer": f"u{i}"}
                                 for i in range(6)])
        ranking = _write_noise(tmp_path / "noise.csv", [
            [1, "o2-0", "", "train", "Rudbeckia hirta", "Bellis perennis", 0.05, 0.95, 0.95,
             "true"],
            [2, "o3-0", "", "train", "Bellis perennis", "Rudbeckia hirta", 0.3, 0.7, 0.7,
             "true"],
            [3, "gone-0", "", "train", "Bellis perennis", "Rudbeckia hirta", 0.4, 0.6, 0.6,
             "false"],
            [4, "o0-0", "", "train", "Rudbeckia hirta", "Bellis perennis", 0.9, 0.1, 0.1,
             "false"]])
        steps = [{"rule": "label_noise", "file": str(ranking), "min_score": 0.5}]
        spec = parse_spec({"name": "t", "step": steps, "split": {"method": "none"}})
        result = build_dataset(study, spec, tmp_path / "flagged")
        notes = result.steps[1].notes
        assert notes == ["3 photos with noise_score >= 0.5: 2 flagged for review "
                         "(1 no longer in the dataset)"]
        import pyarrow.parquet as pq

        manifest = pq.read_table(tmp_path / "flagged" / "manifest.parquet").to_pylist()
        flagged = {r["photo_id"]: r["review_reason"] for r in manifest if r["needs_review"]}
        assert set(flagged) == {"o2-0", "o3-0"} and len(manifest) == 6
        assert flagged["o2-0"] == "label noise 0.95 (suggested Bellis perennis)"
        drop = parse_spec({"name": "t", "split": {"method": "none"},
                           "step": [{**steps[0], "action": "drop", "min_score": 0.9}]})
        build_dataset(study, drop, tmp_path / "dropped")
        kept = pq.read_table(tmp_path / "dropped" / "manifest.parquet").column("photo_id")
        assert "o2-0" not in kept.to_pylist() and len(kept) == 5
        assert "needs_review" not in pq.read_table(
            tmp_path / "dropped" / "manifest.parquet").column_names
    (tmp_path / "flagged" / "noise.csv").write_bytes(ranking.read_bytes())
    report = write_report(tmp_path / "flagged", plots=False)["report.md"].read_text()
    assert "## Likely label errors" in report
    assert "| 1 | o2-0 | train | Rudbeckia hirta | Bellis perennis | 0.05 | 0.95 |" in report


@pytest.mark.parametrize(("step", "key", "reason"), [
    ({"min_score": 0.5}, "file", "needs the ranking"),
    ({"file": "no/such.csv"}, "file", "no such file"),
    ({"file": __file__, "min_score": 1.5}, "min_score", "must be in [0, 1]"),
    ({"file": __file__, "action": "delete"}, "action", "delete"),
])
def test_rule_refuses_bad_values(step: dict[str, object], key: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason.replace("[", r"\[")) as err:
        parse_spec({"name": "t", "step": [{"rule": "label_noise", **step}]})
    assert key in str(err.value)

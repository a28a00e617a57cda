"""Model against human annotators (seed 000): reading, scoring by hand, t-tests against
SciPy, bad CSVs, the command line, and the real bluebirds votes."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.errors import InputError
from fieldguide.evaluation import (
    HumansResult,
    analyse_humans,
    read_annotations,
    write_humans_report,
)

EXPERT = {"i1": "veg", "i2": "veg", "i3": "bud", "i4": "bud", "i5": "flower", "i6": "flower"}
LABELS = {
    "expert": EXPERT,
    "model": {**EXPERT, "i4": "flower"},  # 5/6; veg 1, bud 1/2, flower 1
    "h1": {**EXPERT, "i2": "bud"},  # 5/6; veg 1/2, bud 1, flower 1
    "h2": {**EXPERT, "i3": "veg", "i4": "veg", "i6": "fruit"},  # 3/6; veg 1, bud 0, flower 1/2
    # 2/3; bud 0, no flowering image; i9 has no expert label so it is not scored
    "h3": {"i1": "veg", "i2": "veg", "i3": "veg", "i9": "bud"},
}


def write_csv(path: Path, labels: dict[str, dict[str, str]], header: str = "image,annotator,label"
              ) -> Path:
    rows = [f"{img},{who},{lab}" for who, given in labels.items() for img, lab in given.items()]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.fixture
def hand_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "annotations.csv", LABELS)


def test_scores_by_hand(hand_csv: Path) -> None:
    r = analyse_humans(read_annotations(hand_csv))
    assert r.humans == ["h1", "h2", "h3"] and r.classes == ["bud", "flower", "veg"]
    assert r.labels == ["bud", "flower", "veg", "fruit"]
    assert r.accuracy == pytest.approx({"h1": 5 / 6, "h2": 3 / 6, "h3": 2 / 3, "model": 5 / 6})
    assert r.n_scored == {"h1": 6, "h2": 6, "h3": 3, "model": 6}
    assert r.class_accuracy["model"] == [0.5, 1.0, 1.0]
    assert r.class_accuracy["h2"] == [0.0, 0.5, 1.0]
    assert r.class_accuracy["h3"] == [0.0, None, 1.0]
    assert r.class_support == [2, 2, 2]
    assert r.confusion["h2"] == [[0, 0, 2, 0], [0, 1, 0, 1], [0, 0, 2, 0]]


def test_t_tests_agree_with_scipy(hand_csv: Path) -> None:
    r = analyse_humans(read_annotations(hand_csv))
    ref = stats.ttest_1samp([5 / 6, 3 / 6, 2 / 3], 5 / 6)
    assert r.overall_test.t == pytest.approx(ref.statistic)
    assert r.overall_test.p_value == pytest.approx(ref.pvalue)
    bud, flower, veg = r.class_tests
    assert bud is not None and flower is not None and veg is not None
    assert bud.p_value == pytest.approx(stats.ttest_1samp([1.0, 0.0, 0.0], 0.5).pvalue)
    assert flower.n == 2  # h3 labelled no flowering image
    assert flower.p_value == pytest.approx(stats.ttest_1samp([1.0, 0.5], 1.0).pvalue)
    assert veg.p_value == pytest.approx(stats.ttest_1samp([0.5, 1.0, 1.0], 1.0).pvalue)


def test_report_renders_and_round_trips(hand_csv: Path, tmp_path: Path) -> None:
    r = analyse_humans(read_annotations(hand_csv))
    files = write_humans_report(r, tmp_path / "out")
    assert files["html"].read_text().count("data:image/png;base64,") == 2
    assert "| overall |" in files["markdown"].read_text()
    assert HumansResult.from_json(files["json"].read_text()) == r


def test_named_expert_and_model(tmp_path: Path) -> None:
    renamed = {"R. Reeb" if k == "expert" else "resnet18" if k == "model" else k: v
               for k, v in LABELS.items()}
    path = write_csv(tmp_path / "a.csv", renamed)
    r = analyse_humans(read_annotations(path), expert="R. Reeb", model="resnet18")
    assert r.accuracy["resnet18"] == pytest.approx(5 / 6)


def error_of(path: Path, **names: str) -> InputError:
    with pytest.raises(InputError) as err:
        analyse_humans(read_annotations(path), path=path, **names)
    return err.value


def test_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("image,annotator\ni1,expert\n")
    err = error_of(path)
    assert (err.field, err.line) == ("label", 1)
    assert "missing required column 'label'" in str(err)


def test_blank_label_and_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("image,annotator,label\ni1,expert,veg\ni1,h1,\n")
    assert (error_of(path).field, error_of(path).line) == ("label", 3)
    path.write_text("image,annotator,label\ni1,expert,veg\ni1,expert,bud\n")
    assert (error_of(path).field, error_of(path).line) == ("image", 3)


def test_expert_model_or_annotator_without_labels(hand_csv: Path, tmp_path: Path) -> None:
    err = error_of(hand_csv, expert="R. Reeb")
    assert err.field == "annotator" and "'R. Reeb'" in str(err)
    assert error_of(hand_csv, model="cnn").field == "annotator"
    stray = write_csv(tmp_path / "b.csv", {**LABELS, "h4": {"i99": "veg"}})
    err = error_of(stray)
    assert err.field == "annotator" and "'h4'" in str(err)
    alone = write_csv(tmp_path / "c.csv", {k: LABELS[k] for k in ("expert", "model")})
    assert error_of(alone).field == "annotator"


def test_command_line(hand_csv: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["humans", str(hand_csv), "-o", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    assert "model: accuracy 0.833; 3 humans" in result.output
    assert (tmp_path / "rep" / "humans.html").is_file()
    result = CliRunner().invoke(app, ["humans", str(hand_csv), "-o", str(tmp_path / "x"),
                                      "--expert", "nobody"])
    assert result.exit_code == 2
    assert "field 'annotator': no labels from the expert annotator 'nobody'" in result.output


def test_real_bluebirds_votes(shared_data: Path, tmp_path: Path) -> None:
    """39 workers each labelled all 108 real bird photos (Welinder et al. 2010), with a
    known truth: the truth plays the expert and worker 39 plays the model."""
    folder = shared_data / "votes" / "bluebirds" / "normalized"
    with (folder / "votes.csv").open() as f:
        votes = list(csv.DictReader(f))
    with (folder / "truth.csv").open() as f:
        truth = {r["task"]: r["truth"] for r in csv.DictReader(f)}
    rows = [(r["task"], "model" if r["worker"] == "39" else f"w{r['worker']}", r["label"])
            for r in votes]
    rows += [(task, "expert", lab) for task, lab in truth.items()]
    path = tmp_path / "bluebirds.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([("image", "annotator", "label"), *rows])

    r = analyse_humans(read_annotations(path))
    assert len(r.humans) == 38 and r.n_images == 108
    hits = Counter(w for task, w, lab in rows if w != "expert" and truth[task] == lab)
    assert all(r.n_scored[w] == 108 for w in (*r.humans, "model"))
    assert r.accuracy == pytest.approx({w: hits[w] / 108 for w in (*r.humans, "model")})
    ref = stats.ttest_1samp([r.accuracy[h] for h in r.humans], r.accuracy["model"])
    assert r.overall_test.p_value == pytest.approx(ref.pvalue)
    assert 0.5 < float(np.mean([r.accuracy[h] for h in r.humans])) < 0.9

"""Dawid-Skene with gold answers and starting confusion matrices (issue #26 point 6): on every
real vote set with truth, 10% gold against none; the files and CLI options, refused in one
line when wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from fieldguide.cli.aggregate import aggregate
from fieldguide.errors import InputError
from fieldguide.votes import create
from fieldguide.votes.dawid_skene import DawidSkene
from fieldguide.votes.io import read_confusion, read_gold, read_truth, read_votes
from tests.votes.conftest import WITH_TRUTH

app = typer.Typer()
app.command("aggregate")(aggregate)
app.command("noop")(lambda: None)

DRAWS = 5


def gold_draw(truth: np.ndarray, seed: int, share: float = 0.1) -> np.ndarray:
    """A seeded ``share`` of the tasks with known truth, as gold codes (-1 elsewhere)."""
    known = np.flatnonzero(truth >= 0)
    picked = np.random.default_rng(seed).choice(known, round(share * len(known)),
                                                replace=False)
    gold = np.full(len(truth), -1, dtype=np.int64)
    gold[picked] = truth[picked]
    return gold


@pytest.mark.parametrize("name", WITH_TRUTH)
def test_ten_percent_gold_is_at_least_as_accurate(votes_dir: Path, name: str) -> None:
    """Over 5 draws of 10% gold: the labels of all tasks with truth are at least as accurate
    (every draw), and on the tasks without gold the mean accuracy is no worse than one task
    or 0.5 points below plain Dawid-Skene (the run-to-run spread of EM's path; the table in
    docs/reliability.md gives the figures)."""
    d = votes_dir / name / "normalized"
    votes = read_votes(d / "votes.csv")
    truth = read_truth(d / "truth.csv", votes)
    plain = create("dawid-skene").fit(votes).labels_
    diffs = []
    for seed in range(DRAWS):
        gold = gold_draw(truth, seed)
        fitted = DawidSkene().fit(votes, gold=gold)
        assert (fitted.labels_[gold >= 0] == gold[gold >= 0]).all()  # clamped
        known = truth != -1
        assert ((fitted.labels_ == truth) & known).sum() >= ((plain == truth) & known).sum()
        rest = known & (gold < 0)
        if rest.any():
            diffs.append((((fitted.labels_ == truth) & rest).sum()
                          - ((plain == truth) & rest).sum()) / rest.sum())
            tolerance = max(1 / rest.sum(), 0.005)
    if diffs:
        assert np.mean(diffs) >= -tolerance, (name, diffs)


def test_one_coin_clamps_gold_even_where_nobody_voted_it(votes_dir: Path) -> None:
    votes = read_votes(votes_dir / "labelme" / "normalized" / "votes.csv")
    gold = np.full(votes.n_tasks, -1, dtype=np.int64)
    voted = votes.label[votes.task == 0]
    gold[0] = next(k for k in range(votes.n_labels) if k not in voted)
    gold[1] = votes.label[votes.task == 1][0]
    fitted = DawidSkene(model="one-coin").fit(votes, gold=gold)
    assert fitted.labels_[0] == gold[0] and fitted.labels_[1] == gold[1]
    assert fitted.acc_[0] == pytest.approx(1.0) and fitted.acc_[1] == pytest.approx(1.0)


def test_initial_confusion_matrices_start_the_workers(votes_dir: Path, tmp_path: Path) -> None:
    """A '*' row gives every worker a start; a named worker's rows replace it; the start
    changes the fit (an adversarial start flips it towards the other label)."""
    d = votes_dir / "bluebirds" / "normalized"
    votes = read_votes(d / "votes.csv")
    worker = votes.worker_names[0]
    path = tmp_path / "confusion.csv"
    path.write_text("worker,truth,label,probability\n*,0,0,0.8\n*,0,1,0.2\n*,1,1,0.8\n*,1,0,0.2\n"
                    f"{worker},0,0,0.5\n{worker},0,1,0.5\n{worker},1,1,0.75\n{worker},1,0,0.25\n")
    start = read_confusion(path, votes)
    assert start.shape == (votes.n_workers, 2, 2)
    assert np.allclose(start[1], [[0.8, 0.2], [0.2, 0.8]])
    assert np.allclose(start[0], [[0.5, 0.5], [0.25, 0.75]])
    swapped = np.full_like(start, np.nan)
    swapped[:] = [[0.1, 0.9], [0.9, 0.1]]
    fitted = DawidSkene(n_iter=1).fit(votes, init_confusion=swapped)
    plain = DawidSkene(n_iter=1).fit(votes)
    assert (fitted.labels_ != plain.labels_).mean() > 0.5
    with pytest.raises(ValueError, match="shape"):
        DawidSkene().fit(votes, init_confusion=start[:1])


@pytest.mark.parametrize(("text", "line", "field", "reason"), [
    ("task,truth\n11573,1\n99999999,1\n", 3, "task", "not in the votes"),
    ("task,truth\n11573,1\n11574,7\n", 3, "truth", "label '7' is not in the votes"),
    ("task,truth\n11573,1\n11573,0\n", 3, "truth", "already has gold label"),
    ("task,label\n11573,1\n", None, "truth", "missing column"),
])
def test_bad_gold_rows_are_one_line(votes_dir: Path, tmp_path: Path, text: str,
                                    line: int | None, field: str, reason: str) -> None:
    votes = read_votes(votes_dir / "bluebirds" / "normalized" / "votes.csv")
    path = tmp_path / "gold.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=reason) as err:
        read_gold(path, votes)
    assert (err.value.line, err.value.field) == (line, field)


def test_bad_confusion_rows_are_one_line(votes_dir: Path, tmp_path: Path) -> None:
    d = votes_dir / "labelme" / "normalized"
    votes = read_votes(d / "votes.csv")
    name = str(votes.worker_names[3])
    path = tmp_path / "c.csv"
    path.write_text(f"worker,truth,label,probability\n{name}x,0,0,1\n")
    with pytest.raises(InputError, match="did you mean") as err:
        read_confusion(path, votes)
    assert (err.value.line, err.value.field) == (2, "worker")
    path.write_text(f"worker,truth,label,probability\n{name},0,0,1.5\n")
    with pytest.raises(InputError, match="not a probability") as err:
        read_confusion(path, votes)
    assert err.value.field == "probability"
    path.write_text(f"worker,truth,label,probability\n{name},0,0,1\n")
    with pytest.raises(InputError, match="no row with a probability above 0 for truth"):
        read_confusion(path, votes)


def test_cli_gold_scores_the_other_tasks_and_refuses_in_one_line(votes_dir: Path,
                                                                 tmp_path: Path) -> None:
    d = votes_dir / "dog" / "normalized"
    votes = read_votes(d / "votes.csv")
    truth = read_truth(d / "truth.csv", votes)
    gold = gold_draw(truth, 0)
    gold_file = tmp_path / "gold.csv"
    gold_file.write_text("task,truth\n" + "".join(
        f"{votes.task_names[i]},{votes.label_names[gold[i]]}\n" for i in np.flatnonzero(gold >= 0)))
    out = tmp_path / "labels.csv"
    base = ["aggregate", str(d / "votes.csv"), "-o", str(out), "--truth", str(d / "truth.csv")]
    result = CliRunner().invoke(app, [*base, "-m", "dawid-skene", "--gold", str(gold_file)])
    assert result.exit_code == 0, result.output
    assert f"scored on the {int(((truth != -1) & (gold < 0)).sum()):,} tasks" in result.output
    refused = CliRunner().invoke(app, [*base, "-m", "majority", "--gold", str(gold_file)])
    assert refused.exit_code != 0 and "--gold needs --method dawid-skene" in refused.output
    gold_file.write_text("task,truth\n1,0\nnope,0\n")
    bad = CliRunner().invoke(app, [*base, "-m", "dawid-skene", "--gold", str(gold_file)])
    assert bad.exit_code == 2
    assert "line 3, field 'task': task 'nope' is not in the votes" in bad.output


def test_cli_init_confusion_runs_and_refuses_bad_rows(votes_dir: Path, tmp_path: Path) -> None:
    d = votes_dir / "bluebirds" / "normalized"
    start = tmp_path / "start.csv"
    start.write_text("worker,truth,label,probability\n*,0,0,0.7\n*,0,1,0.3\n*,1,1,0.7\n"
                     "*,1,0,0.3\n")
    args = ["aggregate", str(d / "votes.csv"), "-m", "dawid-skene", "-o",
            str(tmp_path / "labels.csv"), "--init-confusion", str(start)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    start.write_text("worker,truth,label,probability\n*,0,0,0.7\n*,0,2,0.3\n")
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 2
    assert "line 3, field 'label': label '2' is not in the votes" in bad.output

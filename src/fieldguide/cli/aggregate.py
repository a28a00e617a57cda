"""`fieldguide aggregate`: crowd votes -> one label per observation, in labels.csv and the study.

Heavy imports (NumPy, the strategies) happen inside the command so the CLI starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fieldguide.cli.common import DEFAULT_STUDY, StudyOption, fail, guarded, open_study

AI_CAPABLE = ("plantnet", "weighted")


def aggregate(
    votes: Annotated[Path | None, typer.Argument(
        help="votes.csv (task,worker,label) or answers.json; default: the study's votes.")] = None,
    method: Annotated[str, typer.Option("--method", "-m", help="Aggregation method.")] = "plantnet",
    authors: Annotated[Path | None, typer.Option(help="authors.txt: author per task line.")] = None,
    ai: Annotated[Path | None, typer.Option(help="ai_answers.json {task: label}.")] = None,
    ai_scores: Annotated[Path | None, typer.Option(help="ai_scores.json {task: score}.")] = None,
    ai_mode: Annotated[str | None, typer.Option(
        help="AI vote: worker, fixed, invalidating or confident (plantnet, weighted).")] = None,
    truth: Annotated[Path | None, typer.Option(help="truth.csv or one label per line.")] = None,
    compare: Annotated[list[str] | None, typer.Option(
        "--compare", help="Also run these methods and print the evaluation table.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Labels CSV to write.")] = Path(
        "labels.csv"),
    study: StudyOption = DEFAULT_STUDY,
) -> None:
    """Aggregate votes with METHOD; write labels.csv and the study's labels table."""
    import time
    import warnings

    import numpy as np
    import pyarrow.csv as pacsv

    from fieldguide.votes import REGISTRY, create
    from fieldguide.votes.evaluate import compare as run_compare
    from fieldguide.votes.evaluate import markdown, score
    from fieldguide.votes.io import LoadWarning, read_truth, read_votes
    from fieldguide.votes.study import label_table, save_labels, votes_from_study

    for name in [method, *(compare or [])]:
        if name not in REGISTRY:
            raise fail(f"unknown method {name!r}; known: {', '.join(sorted(REGISTRY))}")
    if ai_mode is not None and method not in AI_CAPABLE:
        raise fail(f"--ai-mode needs --method {' or '.join(AI_CAPABLE)}")
    if votes is None:
        with open_study(study, create=False) as st:
            table = guarded(lambda: votes_from_study(st))
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LoadWarning)
            table = guarded(lambda: read_votes(votes, authors=authors, ai=ai,
                                               ai_scores=ai_scores))
        for w in caught:
            typer.secho(f"warning: {w.message}", fg=typer.colors.YELLOW, err=True)
    truth_codes = (guarded(lambda: read_truth(truth, table)) if truth is not None
                   else np.full(table.n_tasks, -1, dtype=np.int64))
    params = {"ai": ai_mode} if ai_mode is not None else {}
    start = time.perf_counter()
    strategy = guarded(lambda: create(method, **params).fit(table))
    seconds = time.perf_counter() - start
    output.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(label_table(table, strategy), output)
    with open_study(study) as st:
        save_labels(st, method, table, strategy)
    typer.echo(f"{method}: {table.n_tasks} tasks, {int(strategy.validated_.sum())} validated "
               f"-> {output}")
    if truth is not None or compare:
        others = [m for m in compare or [] if m != method]
        rows = run_compare(table, others, truth_codes, {"weighted": params, "plantnet": params})
        typer.echo(markdown([score(strategy, truth_codes, method, seconds), *rows]))

"""`fieldguide aggregate`: crowd votes -> one label per observation, in labels.csv and the study.

Heavy imports (NumPy, the strategies) happen inside the command so the CLI starts fast. The
choices of ``--method``, ``--compare`` and ``--ai-mode`` are the votes package's own (its
registry and AI modes), checked by the option parser when a value is given, so an unknown
name is refused before any file is read and a new strategy needs no CLI change; which
strategies weigh an AI vote is each strategy's ``takes_ai``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fieldguide.cli.common import DEFAULT_STUDY, fail, guarded, open_study

# Unlike other commands, no default folder: aggregating a votes FILE is a calculation, and
# writes into a study only when one is named (without FILE, the study defaults to ./study).
OptionalStudy = Annotated[Path | None, typer.Option(
    "--study", "-s", envvar="FIELDGUIDE_STUDY",
    help="Study to read votes from (default ./study when no FILE is given) and to write the "
         "labels table into; with FILE and no --study, only the labels CSV is written.")]


def _method(value: str) -> str:
    """A strategy name of the votes registry (imported here: NumPy only when parsing)."""
    from fieldguide.votes import REGISTRY

    if value not in REGISTRY:
        raise typer.BadParameter(f"unknown method {value!r}; known: {', '.join(sorted(REGISTRY))}")
    return value


def _ai_mode(value: str) -> str:
    """One of the AI modes the weighted strategies implement."""
    from fieldguide.votes.majority import AI_MODES

    if value not in AI_MODES:
        raise typer.BadParameter(f"unknown AI mode {value!r}; known: {', '.join(AI_MODES)}")
    return value


def _ai_capable() -> list[str]:
    """The registered strategies that weigh an AI vote (each strategy says so itself)."""
    from fieldguide.votes import REGISTRY, create

    return [name for name in sorted(REGISTRY) if type(create(name)).takes_ai]


def aggregate(
    votes: Annotated[Path | None, typer.Argument(
        help="votes.csv (task,worker,label) or answers.json; default: the study's votes.")] = None,
    method: Annotated[str, typer.Option(
        "--method", "-m", parser=_method, metavar="METHOD",
        help="Aggregation method: a name of the votes registry (an unknown one lists them).")
    ] = "plantnet",
    authors: Annotated[Path | None, typer.Option(help="authors.txt: author per task line.")] = None,
    ai: Annotated[Path | None, typer.Option(help="ai_answers.json {task: label}.")] = None,
    ai_scores: Annotated[Path | None, typer.Option(help="ai_scores.json {task: score}.")] = None,
    ai_mode: Annotated[str | None, typer.Option(
        parser=_ai_mode, metavar="MODE",
        help="AI vote: worker, fixed, invalidating or confident (plantnet, weighted).")] = None,
    truth: Annotated[Path | None, typer.Option(help="truth.csv or one label per line.")] = None,
    compare: Annotated[list[str] | None, typer.Option(
        "--compare", parser=_method, metavar="METHOD",
        help="Also run these methods and print the evaluation table.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Labels CSV to write.")] = Path(
        "labels.csv"),
    peerannot_compat: Annotated[bool, typer.Option(
        "--peerannot-compat", help="plantnet only: reproduce peerannot's PlantNet strategy "
                                   "(its weights and validity rule) instead of the thesis'.")
                                ] = False,
    gold: Annotated[Path | None, typer.Option(
        help="dawid-skene only: task,truth CSV of known true labels, fixed while the "
             "workers' confusion matrices are estimated.")] = None,
    init_confusion: Annotated[Path | None, typer.Option(
        help="dawid-skene only: worker,truth,label,probability CSV of starting confusion "
             "matrices (worker '*': everyone).")] = None,
    study: OptionalStudy = None,
) -> None:
    """Aggregate votes with METHOD; write labels.csv and the study's labels table."""
    import time
    import warnings

    import numpy as np
    import pyarrow.csv as pacsv

    from fieldguide.votes import create
    from fieldguide.votes.evaluate import compare as run_compare
    from fieldguide.votes.evaluate import markdown, score
    from fieldguide.votes.io import LoadWarning, read_confusion, read_gold, read_truth, read_votes
    from fieldguide.votes.study import label_table, save_labels, votes_from_study

    if ai_mode is not None and not type(create(method)).takes_ai:
        raise fail(f"--ai-mode needs --method {' or '.join(_ai_capable())}")
    if peerannot_compat and method != "plantnet":
        raise fail("--peerannot-compat needs --method plantnet")
    if peerannot_compat and ai_mode in ("worker", "invalidating"):
        raise fail(f"peerannot's PlantNet has no AI mode {ai_mode!r}; drop --peerannot-compat")
    for flag, given in (("--gold", gold), ("--init-confusion", init_confusion)):
        if given is not None and method != "dawid-skene":
            raise fail(f"{flag} needs --method dawid-skene")
    if votes is None:
        study = study or DEFAULT_STUDY
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
    params: dict[str, object] = {"ai": ai_mode} if ai_mode is not None else {}
    own = {**params, "peerannot_compat": True} if peerannot_compat else params
    start = time.perf_counter()
    known = {"gold": guarded(lambda: read_gold(gold, table))} if gold is not None else {}
    if init_confusion is not None:
        known["init_confusion"] = guarded(lambda: read_confusion(init_confusion, table))
    strategy = guarded(lambda: create(method, **own).fit(table, **known))
    seconds = time.perf_counter() - start
    output.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(label_table(table, strategy), output)
    if study is not None:
        with open_study(study) as st:
            save_labels(st, method, table, strategy)
    typer.echo(f"{method}: {table.n_tasks} tasks, {int(strategy.validated_.sum())} validated "
               f"-> {output}" + (f" and {study}" if study is not None else ""))
    if "gold" in known:  # a gold task's label is given, not found: score the others only
        truth_codes = np.where(known["gold"] >= 0, -1, truth_codes)
        if truth is not None:
            typer.echo(f"scored on the {int((truth_codes != -1).sum()):,} tasks with known "
                       "truth and no gold label")
    if truth is not None or compare:
        others = [m for m in compare or [] if m != method]
        rows = run_compare(table, others, truth_codes, {"weighted": params, "plantnet": own})
        typer.echo(markdown([score(strategy, truth_codes, method, seconds), *rows]))

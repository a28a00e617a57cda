"""`fieldguide humans`: a model against human annotators and an expert (seed 000).

Heavy imports happen inside the command so the CLI starts fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fieldguide.cli.common import guarded


def humans(
    annotations: Annotated[Path, typer.Argument(
        help="CSV with columns image, annotator, label (one row per label).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Report folder to write.")],
    expert: Annotated[str, typer.Option(help="Annotator whose labels are the truth.")] = "expert",
    model: Annotated[str, typer.Option(help="Annotator name of the model.")] = "model",
) -> None:
    """Score each annotator and the model against the expert, overall and per class, and
    t-test the model's accuracy against the humans'; writes humans.md/.html/.json."""
    from fieldguide.evaluation import analyse_humans, read_annotations, write_humans_report

    result = guarded(lambda: analyse_humans(read_annotations(annotations), expert=expert,
                                            model=model, path=annotations))
    files = guarded(lambda: write_humans_report(result, output))
    t = result.overall_test
    p = "undefined" if t.p_value is None else f"{t.p_value:.3g}"
    typer.echo(f"{model}: accuracy {result.accuracy[model]:.3f}; {len(result.humans)} humans: "
               f"mean {t.mean:.3f}; t-test p = {p} -> {files['markdown']}")

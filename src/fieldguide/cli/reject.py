"""``fieldguide reject fit``: fit a model's rejection of unknown and unusable photos and store
it in the model folder, so that ``identify`` rejects by default (``--no-reject`` turns it off)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fieldguide.cli.common import guarded

reject_app = typer.Typer(no_args_is_help=True,
                         help="Rejection of photos the model does not know or cannot use.")


@reject_app.command("fit")
def fit(
    model: Annotated[Path, typer.Argument(help="Model artefact folder (model.json, model.onnx).")],
    manifest: Annotated[Path, typer.Argument(
        help="The dataset manifest (path, split, the model's label column).")],
    false_rejection: Annotated[float, typer.Option(
        min=0.001, max=0.5, help="Share of known photos of the validation split rejected.")]
    = 0.05,
    train_split: Annotated[str, typer.Option(help="Photos the scores are fitted on.")] = "train",
    val_split: Annotated[str, typer.Option(help="Photos the threshold is chosen on.")] = "val",
    threads: Annotated[int, typer.Option(min=1)] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print the fit report as JSON.")]
    = False,
) -> None:
    """Fit the scores and their combiner (held-out classes as pseudo-unknowns; no outside
    data) and the threshold for the stated false rejection (docs/identification.md)."""
    from fieldguide.identification.rejector_fit import fit_model_rejector, report_text

    report = guarded(lambda: fit_model_rejector(
        model, manifest, false_rejection=false_rejection, train_split=train_split,
        val_split=val_split, threads=threads))
    typer.echo(json.dumps(report, indent=2) if as_json else report_text(report))

"""``fieldguide dataset``: build a training set from a spec, and (re)render its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fieldguide.cli.common import DEFAULT_STUDY, StudyOption, guarded, open_study
from fieldguide.cli.plugins import listing

dataset_app = typer.Typer(no_args_is_help=True, help="Training sets: build and report.")


@dataset_app.command("build", cls=listing("fieldguide.curation.spec:RULES", "Rules"))
def build(
    spec: Path,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the dataset.")],
    study: StudyOption = DEFAULT_STUDY,
) -> None:
    """Run SPEC's steps and split on the study; write manifest, classes and report to -o."""
    from fieldguide.curation import build_dataset, load_spec

    parsed = guarded(lambda: load_spec(spec))
    with open_study(study, create=False) as s:
        result = guarded(lambda: build_dataset(s, parsed, output))
    for record in result.steps:
        typer.echo(f"{record.step:<24} photos {record.photos_in:>12,} -> {record.photos_out:<12,}"
                   f" taxa {record.taxa_in:>8,} -> {record.taxa_out:,}")
    typer.echo(result.summary())


@dataset_app.command("report")
def report(directory: Path) -> None:
    """Re-render DIR/report.md (and plots) from the dataset's own files."""
    from fieldguide.curation import write_report

    files = guarded(lambda: write_report(directory))
    typer.echo(f"wrote {files['report.md']}")

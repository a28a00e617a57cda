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


@dataset_app.command("noise")
def noise(
    manifest: Annotated[Path, typer.Argument(help="A dataset's manifest (Parquet or CSV).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Ranking to write (default: noise.csv beside the manifest, "
                               "where `dataset report` finds it).")] = None,
    backbone: Annotated[str, typer.Option(
        help="Encoder whose embeddings the probe reads (a name of `fieldguide plugins`' "
             "backbones).")] = "lite0",
    label: Annotated[str, typer.Option(help="The manifest's label column.")] = "taxon",
    folds: Annotated[int, typer.Option(min=2, max=50, help="Cross-validation folds.")] = 5,
    cache: Annotated[Path | None, typer.Option(
        help="Embedding stores' folder (default: .embeddings beside the manifest).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fold assignment.")] = 0,
) -> None:
    """Rank MANIFEST's photos by how likely their label is wrong (out-of-fold probabilities of
    a linear probe on cached embeddings; see docs/curation.md), with a suggested label."""
    from fieldguide.models.registry import backbone_info
    from fieldguide.training.noise import rank_label_noise, write_noise

    guarded(lambda: backbone_info(backbone))
    table = guarded(lambda: rank_label_noise(manifest, backbone=backbone, label=label,
                                             cache=cache, folds=folds, seed=seed))
    target = output if output is not None else manifest.parent / "noise.csv"
    write_noise(table, target)
    issues = int(table.label_issue.sum())
    typer.echo(f"{len(table):,} photos ranked, {issues:,} flagged as likely label errors "
               f"-> {target}" + (f" ({table.skipped:,} unreadable, not scored)"
                                 if table.skipped else ""))

"""``fieldguide export``: identifications out as a Darwin Core Archive, and tables as Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fieldguide.cli.common import DEFAULT_STUDY, StudyOption, fail, guarded, open_study

export_app = typer.Typer(no_args_is_help=True, help="Write study data in outward formats.")


@export_app.command("dwc")
def dwc(
    identifications: Annotated[Path | None, typer.Argument(
        help="identify's output (.csv/.parquet; its .observations file is used).")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="The archive (.zip).")] = Path(
        "identifications.zip"),
    study: Annotated[Path | None, typer.Option(
        "--study", "-s", help="Study with the observations' dates, places, photos, licences.")
    ] = None,
    labels: Annotated[str | None, typer.Option(
        help="Export an aggregation's labels instead: a method in the study or a labels CSV.")
    ] = None,
    model: Annotated[Path | None, typer.Option(
        help="The model folder: identifiedBy is its name and version; its lineage fills "
             "kingdom .. genus where the study has no tree.")] = None,
    identified_by: Annotated[str | None, typer.Option(
        help="identifiedBy when no --model is given.")] = None,
    threshold: Annotated[float | None, typer.Option(
        help="The threshold identify used (stated in identificationRemarks).")] = None,
) -> None:
    """A Darwin Core Archive (meta.xml, eml.xml, occurrences, photos, identification
    history); observations without a taxon are kept, with the reason."""
    from fieldguide.export import export_identifications, export_labels

    if (identifications is None) == (labels is None):
        raise fail("give IDENTIFICATIONS or --labels (one of them)")
    if labels is not None:
        with open_study(study or DEFAULT_STUDY, read_only=True) as s:
            counts = guarded(lambda: export_labels(labels, output, study=s))
    elif study is not None:
        with open_study(study, read_only=True) as s:
            counts = guarded(lambda: export_identifications(
                identifications, output, study=s, model=model,  # type: ignore[arg-type]
                identified_by=identified_by, threshold=threshold))
    else:
        counts = guarded(lambda: export_identifications(
            identifications, output, model=model,  # type: ignore[arg-type]
            identified_by=identified_by, threshold=threshold))
    typer.echo(f"wrote {output}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


@export_app.command("table")
def table(
    name: Annotated[str, typer.Argument(metavar="TABLE")],
    output: Annotated[Path, typer.Option("-o", "--output")],
    study: StudyOption = DEFAULT_STUDY,
) -> None:
    """Write one study table to a Parquet file."""
    with open_study(study, read_only=True) as s:
        try:
            path = s.export_parquet(name, output)
        except KeyError as exc:
            raise typer.BadParameter(str(exc), param_hint="TABLE") from None
        typer.echo(f"wrote {path}")

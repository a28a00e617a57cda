"""``fieldguide ingest ...``: one command per source format, each a thin call to
``fieldguide.ingest``; a refused file is one clean error line and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from fieldguide.cli.common import DEFAULT_STUDY, StudyOption, guarded, open_study

if TYPE_CHECKING:
    from fieldguide.ingest import IngestReport
    from fieldguide.store import Study

ingest_app = typer.Typer(no_args_is_help=True, help="Bring data into a study.")

TaxaOption = Annotated[
    str, typer.Option("--taxa", help="extend: unknown names become new taxa; strict: refuse them.")
]
MaxRejects = Annotated[
    int, typer.Option("--max-rejects", help="Keep going when at most this many rows are refused.")
]
Force = Annotated[bool, typer.Option("--force", help="Ingest even if this content was before.")]


@ingest_app.command("inat")
def ingest_inat(
    export: Path,
    study: StudyOption = DEFAULT_STUDY,
    taxa: TaxaOption = "extend",
    max_rejects: MaxRejects = 0,
    force: Force = False,
) -> None:
    """An iNaturalist observation export (CSV)."""
    from fieldguide.ingest import ingest_inat_csv

    _ingest(
        study,
        lambda s: ingest_inat_csv(
            s, export, taxa=_mode(taxa), max_rejects=max_rejects, force=force
        ),
    )


@ingest_app.command("dwca")
def ingest_dwca(
    archive: Path,
    study: StudyOption = DEFAULT_STUDY,
    taxa: TaxaOption = "extend",
    max_rejects: MaxRejects = 0,
    force: Force = False,
) -> None:
    """A Darwin Core Archive from GBIF (folder or .zip)."""
    from fieldguide.ingest import ingest_dwca as run

    _ingest(
        study, lambda s: run(s, archive, taxa=_mode(taxa), max_rejects=max_rejects, force=force)
    )


@ingest_app.command("votes")
def ingest_votes(
    votes: Path,
    study: StudyOption = DEFAULT_STUDY,
    authors: Annotated[Path | None, typer.Option(help="One author per task line.")] = None,
    ai: Annotated[Path | None, typer.Option(help="AI answers JSON {task: label}.")] = None,
    ai_scores: Annotated[Path | None, typer.Option(help="AI scores JSON {task: p}.")] = None,
    truth: Annotated[Path | None, typer.Option(help="task,truth CSV or one per line.")] = None,
    labels: Annotated[
        str, typer.Option(help="ignore: labels are codes; extend/strict: labels are taxon names.")
    ] = "ignore",
    max_rejects: MaxRejects = 0,
    force: Force = False,
) -> None:
    """Crowd votes: CSV task,worker,label or peerannot answers.json."""
    from fieldguide.ingest import ingest_votes as run

    _ingest(
        study,
        lambda s: run(
            s,
            votes,
            authors=authors,
            ai_answers=ai,
            ai_scores=ai_scores,
            truth=truth,
            taxa=_label_mode(labels),
            max_rejects=max_rejects,
            force=force,
        ),
    )


@ingest_app.command("images")
def ingest_images(
    folder: Path,
    study: StudyOption = DEFAULT_STUDY,
    taxa: TaxaOption = "extend",
    max_rejects: MaxRejects = 0,
    force: Force = False,
) -> None:
    """A folder of photos laid out as label/image.jpg (optionally under train/ test/)."""
    from fieldguide.ingest import ingest_image_folder

    _ingest(
        study,
        lambda s: ingest_image_folder(
            s, folder, taxa=_mode(taxa), max_rejects=max_rejects, force=force
        ),
    )


@ingest_app.command("gbif-csv")
def ingest_gbif_occurrences(
    occurrences: Path,
    study: StudyOption = DEFAULT_STUDY,
    multimedia: Annotated[
        Path | None, typer.Option(help="GBIF multimedia.txt (photo URLs, joined on gbifID).")
    ] = None,
    taxa: TaxaOption = "extend",
    max_rejects: MaxRejects = 0,
    force: Force = False,
) -> None:
    """A GBIF occurrence table saved as CSV (e.g. GBIF-mediated iNaturalist records)."""
    from fieldguide.ingest import ingest_gbif_csv

    _ingest(
        study,
        lambda s: ingest_gbif_csv(
            s,
            occurrences,
            multimedia=multimedia,
            taxa=_mode(taxa),
            max_rejects=max_rejects,
            force=force,
        ),
    )


@ingest_app.command("traits")
def ingest_trait_table(
    table: Path,
    study: StudyOption = DEFAULT_STUDY,
    key: Annotated[
        str, typer.Option(help="Column naming the observation (or '<id>.jpg' file).")
    ] = "file",
    annotator: Annotated[str | None, typer.Option(help="Who annotated.")] = None,
    max_rejects: MaxRejects = 0,
    force: Force = False,
) -> None:
    """Trait annotations per observation, e.g. ImageAnt phenology labels (open_flowers, flowers)."""
    from fieldguide.ingest import ingest_traits

    _ingest(
        study,
        lambda s: ingest_traits(
            s, table, key=key, annotator=annotator, max_rejects=max_rejects, force=force
        ),
    )


@ingest_app.command("taxonomy")
def ingest_taxonomy(
    path: Path,
    study: StudyOption = DEFAULT_STUDY,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="interim (Open Tree: taxonomy.tsv + synonyms.tsv) or inat (taxa.csv)."
        ),
    ] = "interim",
    source: Annotated[
        str | None, typer.Option(help="Name of the source (default: the folder's name).")
    ] = None,
    force: Force = False,
) -> None:
    """A reference taxonomy with its synonyms (then ingest with --taxa strict)."""
    from fieldguide.ingest import ingest_taxonomy as run

    if fmt not in ("interim", "inat"):
        raise typer.BadParameter("use interim or inat", param_hint="--format")
    _ingest(
        study,
        lambda s: run(
            s, path, fmt="inat" if fmt == "inat" else "interim", source=source, force=force
        ),
    )


def _ingest(study: Path, run: Callable[[Study], IngestReport]) -> None:
    """Open the study, run one ingester, print its report (bad input: one clean line)."""
    with open_study(study) as s:
        typer.echo(guarded(lambda: run(s)).summary())


def _mode(value: str) -> Literal["extend", "strict"]:
    if value == "extend":
        return "extend"
    if value == "strict":
        return "strict"
    raise typer.BadParameter("use extend or strict", param_hint="--taxa")


def _label_mode(value: str) -> Literal["ignore", "extend", "strict"]:
    return "ignore" if value == "ignore" else _mode(value)

"""``fieldguide ingest ...``: one command per source format, each a thin call to
``fieldguide.ingest``; a refused file is one clean error line and changes nothing.

Options are typed (choices, ranges), so an unknown mode or a negative count is refused by the
parser before any file is opened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from fieldguide.cli.common import (
    DEFAULT_STUDY,
    MaxRejectsOption,
    StudyOption,
    guarded,
    open_study,
)

if TYPE_CHECKING:
    from fieldguide.ingest import IngestReport
    from fieldguide.store import Study

ingest_app = typer.Typer(no_args_is_help=True, help="Bring data into a study.")

TaxonModeChoice = Literal["extend", "strict"]
TaxaOption = Annotated[
    TaxonModeChoice,
    typer.Option("--taxa", help="extend: unknown names become new taxa; strict: refuse them."),
]
MaxRejects = MaxRejectsOption
# DuckDB's delimited reader decodes these itself; any other encoding is refused with a hint.
Encoding = Annotated[
    str,
    typer.Option(
        "--encoding",
        help="The table's text encoding when it is not UTF-8: latin-1 or utf-16 (for another "
        "one, re-save the file as UTF-8).",
    ),
]
Force = Annotated[bool, typer.Option("--force", help="Ingest even if this content was before.")]


@ingest_app.command("inat")
def ingest_inat(
    export: Path,
    study: StudyOption = DEFAULT_STUDY,
    taxa: TaxaOption = "extend",
    max_rejects: MaxRejects = 0,
    force: Force = False,
    encoding: Encoding = "utf-8",
) -> None:
    """An iNaturalist observation export (CSV)."""
    from fieldguide.ingest import ingest_inat_csv

    _ingest(
        study,
        lambda s: ingest_inat_csv(
            s, export, taxa=taxa, max_rejects=max_rejects, force=force, encoding=encoding
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
        study, lambda s: run(s, archive, taxa=taxa, max_rejects=max_rejects, force=force)
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
        Literal["ignore", "extend", "strict"],
        typer.Option(help="ignore: labels are codes; extend/strict: labels are taxon names."),
    ] = "ignore",
    max_rejects: MaxRejects = 0,
    force: Force = False,
    encoding: Encoding = "utf-8",
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
            taxa=labels,
            max_rejects=max_rejects,
            force=force,
            encoding=encoding,
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
            s, folder, taxa=taxa, max_rejects=max_rejects, force=force
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
    encoding: Encoding = "utf-8",
) -> None:
    """A GBIF occurrence table saved as CSV (e.g. GBIF-mediated iNaturalist records)."""
    from fieldguide.ingest import ingest_gbif_csv

    _ingest(
        study,
        lambda s: ingest_gbif_csv(
            s,
            occurrences,
            multimedia=multimedia,
            taxa=taxa,
            max_rejects=max_rejects,
            force=force,
            encoding=encoding,
        ),
    )


@ingest_app.command("traits")
def ingest_trait_table(
    table: Path,
    study: StudyOption = DEFAULT_STUDY,
    key: Annotated[
        str, typer.Option(help="Column naming the observation or photo (an id, or '<id>.jpg').")
    ] = "file",
    trait: Annotated[
        list[str] | None,
        typer.Option(
            "--trait",
            help="TRAIT=COLUMN: read COLUMN as trait TRAIT (repeatable). Given: only these "
            "columns are read and their values kept as written unless mapped. Not given: "
            "every column but the key is a trait of codes 1, 0, U.",
        ),
    ] = None,
    value_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="COLUMN:VALUE=CODE: write VALUE of COLUMN (or of the trait so named) as CODE "
            "(repeatable); a column with a map refuses values it does not list.",
        ),
    ] = None,
    annotator: Annotated[str | None, typer.Option(help="Who annotated.")] = None,
    max_rejects: MaxRejects = 0,
    force: Force = False,
) -> None:
    """Trait annotations per observation or photo: ImageAnt phenology labels, a column of an
    iNaturalist export (--key id --trait flowering=flowering), any table keyed by id."""
    from fieldguide.ingest import ingest_traits

    columns = _trait_columns(trait or [])
    maps = _value_maps(value_map or [], columns)
    _ingest(
        study,
        lambda s: ingest_traits(
            s,
            table,
            key=key,
            columns=columns,
            values=None if columns is not None else ("1", "0", "U"),
            value_maps=maps,
            annotator=annotator,
            max_rejects=max_rejects,
            force=force,
        ),
    )


def _trait_columns(specs: list[str]) -> dict[str, str] | None:
    """``TRAIT=COLUMN`` options -> {column: trait} (None when none given)."""
    if not specs:
        return None
    out: dict[str, str] = {}
    for spec in specs:
        name, eq, column = spec.partition("=")
        if not eq or not name.strip() or not column.strip():
            raise typer.BadParameter(f"{spec!r}: write TRAIT=COLUMN", param_hint="--trait")
        if column.strip() in out:
            raise typer.BadParameter(f"column {column.strip()!r} named twice", param_hint="--trait")
        out[column.strip()] = name.strip()
    return out


def _value_maps(specs: list[str], columns: dict[str, str] | None) -> dict[str, dict[str, str]]:
    """``COLUMN:VALUE=CODE`` options -> {column: {value: code}}. The column is split off at
    the last ':' before the first '=' (so ``field:Flowering:yes=1`` works); a name that is a
    --trait's trait, not a column, means that trait's column."""
    by_trait = {t: c for c, t in (columns or {}).items()}
    out: dict[str, dict[str, str]] = {}
    for spec in specs:
        left, eq, code = spec.partition("=")
        column, colon, raw = left.rpartition(":")
        if not eq or not colon or not column.strip() or not raw.strip():
            raise typer.BadParameter(f"{spec!r}: write COLUMN:VALUE=CODE", param_hint="--map")
        column = column.strip()
        if columns is not None and column not in columns:
            if column not in by_trait:
                raise typer.BadParameter(
                    f"{spec!r}: {column!r} is neither a --trait column nor a trait",
                    param_hint="--map",
                )
            column = by_trait[column]
        out.setdefault(column, {})[raw.strip()] = code.strip()
    return out


@ingest_app.command("inat-open-data")
def ingest_inat_open_data(
    folder: Path,
    study: StudyOption = DEFAULT_STUDY,
    base_url: Annotated[str, typer.Option(help="The photo bucket's base URL.")] = (
        "https://inaturalist-open-data.s3.amazonaws.com"),
    max_rejects: MaxRejects = 0,
    force: Force = False,
) -> None:
    """iNaturalist's open-data tables (observations, photos, taxa, observers; .csv[.gz])."""
    from fieldguide.ingest.inat_open_data import ingest_inat_open_data as run

    _ingest(study, lambda s: run(s, folder, base_url=base_url, max_rejects=max_rejects,
                                 force=force))


@ingest_app.command("taxonomy")
def ingest_taxonomy(
    path: Path,
    study: StudyOption = DEFAULT_STUDY,
    fmt: Annotated[
        Literal["interim", "inat"],
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

    _ingest(study, lambda s: run(s, path, fmt=fmt, source=source, force=force))


def _ingest(study: Path, run: Callable[[Study], IngestReport]) -> None:
    """Open the study, run one ingester, print its report (bad input: one clean line)."""
    with open_study(study) as s:
        typer.echo(guarded(lambda: run(s)).summary())

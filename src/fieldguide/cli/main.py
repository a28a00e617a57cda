"""``fieldguide``: the command line. Each command parses its options, calls one stage's public
API and prints; heavy imports happen inside the commands so ``--help`` answers at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from fieldguide.cli.aggregate import aggregate
from fieldguide.cli.common import DEFAULT_STUDY, StudyOption, guarded, open_study
from fieldguide.cli.dataset import dataset_app
from fieldguide.cli.humans import humans
from fieldguide.cli.identify import calibrate, identify, quantise
from fieldguide.cli.train import compare, evaluate, train

if TYPE_CHECKING:
    from fieldguide.ingest import IngestReport
    from fieldguide.store import Study

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    help="Trustworthy species and phenology labels from community-science photos.",
)
ingest_app = typer.Typer(no_args_is_help=True, help="Bring data into a study.")
app.add_typer(ingest_app, name="ingest")
taxonomy_app = typer.Typer(no_args_is_help=True, help="Taxon names and trees.")
app.add_typer(taxonomy_app, name="taxonomy")
# The stages in pipeline order; each command module keeps its heavy imports inside.
app.command("aggregate")(aggregate)
app.add_typer(dataset_app, name="dataset")
app.command("train")(train)
app.command("evaluate")(evaluate)
app.command("compare")(compare)
app.command("humans")(humans)
app.command("calibrate")(calibrate)
app.command("identify")(identify)
app.command("quantise")(quantise)

TaxaOption = Annotated[
    str, typer.Option("--taxa", help="extend: unknown names become new taxa; strict: refuse them.")
]
MaxRejects = Annotated[
    int, typer.Option("--max-rejects", help="Keep going when at most this many rows are refused.")
]
Force = Annotated[bool, typer.Option("--force", help="Ingest even if this content was before.")]


@app.command()
def init(study: StudyOption = DEFAULT_STUDY) -> None:
    """Create an empty study folder (a DuckDB database and a reports folder)."""
    with open_study(study) as s:
        typer.echo(f"study ready at {s.root} ({', '.join(s.counts())})")


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


@taxonomy_app.command("match")
def taxonomy_match(
    names: Path,
    output: Annotated[Path, typer.Option("-o", "--output")],
    study: StudyOption = DEFAULT_STUDY,
    source: Annotated[str | None, typer.Option(help="Match against this source only.")] = None,
) -> None:
    """Map a list of names (one per line) onto the study's taxonomy and say how each matched
    (exact, canonical, synonym, fuzzy, ambiguous, unmatched), as Naturalis' TaxonMap does."""
    from fieldguide.cli.render import write_matches

    with open_study(study, create=False) as s:
        guarded(lambda: write_matches(s, names, output, source))


@app.command()
def summary(
    study: StudyOption = DEFAULT_STUDY,
    superclass_rank: Annotated[
        str | None,
        typer.Option(help="Group classes by this rank (default: iNaturalist's iconic taxa)."),
    ] = None,
) -> None:
    """Counts, votes per observation, photos per taxon, per super-class table (also written
    to the study's reports/ folder as summary.md and photos_per_taxon.png)."""
    from fieldguide.cli.render import print_summary

    with open_study(study, create=False) as s:
        print_summary(s, superclass_rank)


@app.command()
def demo(
    photos: Annotated[
        Path | None,
        typer.Argument(
            help="Folder of labelled photos (label/img.jpg); default: the oxford_flowers12 sample."
        ),
    ] = None,
    data: Annotated[Path, typer.Option(help="The real sample data.")] = Path("../shared/data"),
    out: Annotated[Path, typer.Option(help="Where every output goes.")] = Path("out/sample"),
) -> None:
    """The main job: the whole pipeline on a sample study. Photos -> dataset -> linear probe ->
    evaluation -> calibration -> identification, plus the real iNaturalist, GBIF and Pl@ntNet
    samples ingested and their votes aggregated. Rerun to resume."""
    from fieldguide.cli.render import print_summary
    from fieldguide.pipeline import run_sample_study

    folder = photos or data / "images" / "oxford_flowers12"
    with open_study(out / "study") as s:
        run = guarded(
            lambda: run_sample_study(
                s,
                data,
                on_step=lambda name, text: typer.echo(f"[{name}]\n{text}"),
                photos=folder,
                out=out,
            )
        )
        print_summary(s, None)
    if run is not None:
        report = out / "REPORT.md"
        report.write_text("# Sample run\n\n" + "\n".join(run.lines) + "\n", encoding="utf-8")
        typer.echo(
            f"\noutputs in {out}/: dataset/ (manifest + report), model/ (artefact, "
            f"ONNX), evaluation/ (report.html), identify/ (test.csv), study/, {report}"
        )
    typer.echo(
        "your own data: `fieldguide ingest inat EXPORT.csv -s STUDY` or "
        "`fieldguide ingest dwca GBIF.zip -s STUDY`, then `fieldguide dataset build "
        "SPEC -o DIR -s STUDY` and `fieldguide train SPEC` (see README.md)"
    )


@app.command()
def export(
    table: str,
    output: Annotated[Path, typer.Option("-o", "--output")],
    study: StudyOption = DEFAULT_STUDY,
) -> None:
    """Write one study table to a Parquet file."""
    with open_study(study, create=False) as s:
        try:
            path = s.export_parquet(table, output)
        except KeyError as exc:
            raise typer.BadParameter(str(exc), param_hint="TABLE") from None
        typer.echo(f"wrote {path}")


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


def main() -> None:
    app()

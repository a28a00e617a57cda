"""``fieldguide``: the command line. Each command parses its options, calls one stage's public
API and prints; heavy imports happen inside the commands so ``--help`` answers at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fieldguide.cli.aggregate import aggregate
from fieldguide.cli.common import DEFAULT_STUDY, StudyOption, guarded, open_study
from fieldguide.cli.dataset import dataset_app
from fieldguide.cli.humans import humans
from fieldguide.cli.identify import calibrate, identify, quantise
from fieldguide.cli.ingest import ingest_app
from fieldguide.cli.train import compare, evaluate, train

if TYPE_CHECKING:
    pass

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    help="Trustworthy species and phenology labels from community-science photos.",
)
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


@app.command()
def init(study: StudyOption = DEFAULT_STUDY) -> None:
    """Create an empty study folder (a DuckDB database and a reports folder)."""
    with open_study(study) as s:
        typer.echo(f"study ready at {s.root} ({', '.join(s.counts())})")


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


def main() -> None:
    app()

"""``fieldguide``: the command line. Each command parses its options, calls one stage's public
API and prints; heavy imports happen inside the commands so ``--help`` answers at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fieldguide.cli.aggregate import aggregate
from fieldguide.cli.common import (
    DEFAULT_STUDY,
    GuardedGroup,
    StudyOption,
    guarded,
    open_study,
)
from fieldguide.cli.dataset import dataset_app
from fieldguide.cli.embed import embed
from fieldguide.cli.export import export_app
from fieldguide.cli.humans import humans
from fieldguide.cli.identify import calibrate, identify, quantise
from fieldguide.cli.ingest import ingest_app
from fieldguide.cli.photos import photos_app
from fieldguide.cli.plugins import listing
from fieldguide.cli.prior import prior_app
from fieldguide.cli.reject import reject_app
from fieldguide.cli.search import candidates, index_app, similar
from fieldguide.cli.serve import serve
from fieldguide.cli.sound import sound_app
from fieldguide.cli.train import compare, evaluate, train

app = typer.Typer(
    cls=GuardedGroup,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    help="Trustworthy species and phenology labels from community-science photos.",
)


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option(
        "--debug", envvar="FIELDGUIDE_DEBUG",
        help="Show the full traceback when a command fails.")] = False,
    wait: Annotated[float, typer.Option(
        "--wait", min=0.0, envvar="FIELDGUIDE_WAIT", metavar="SECONDS",
        help="When another fieldguide process is using the study, wait this long for it.")] = 0.0,
) -> None:
    """Trustworthy species and phenology labels from community-science photos."""


app.add_typer(ingest_app, name="ingest")
app.add_typer(photos_app, name="photos")
app.add_typer(sound_app, name="sound")
taxonomy_app = typer.Typer(no_args_is_help=True, help="Taxon names and trees.")
app.add_typer(taxonomy_app, name="taxonomy")
# The stages in pipeline order; each command module keeps its heavy imports inside.
app.command("aggregate", cls=listing("fieldguide.votes.base:REGISTRY", "Methods"))(aggregate)
app.add_typer(dataset_app, name="dataset")
app.command("embed")(embed)
app.command("train", cls=listing("fieldguide.models.registry:BACKBONES", "Backbones"))(train)
app.command("evaluate")(evaluate)
app.command("compare")(compare)
app.command("humans")(humans)
app.command("calibrate")(calibrate)
app.command("serve")(serve)
app.command("identify")(identify)
app.command("quantise")(quantise)
app.add_typer(reject_app, name="reject")
app.add_typer(prior_app, name="prior")
app.add_typer(index_app, name="index")
app.command("similar")(similar)
app.command("candidates")(candidates)
app.add_typer(export_app, name="export")


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

    with open_study(study, read_only=True) as s:
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

    with open_study(study, read_only=True) as s:
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
    backbone: Annotated[str, typer.Option(
        help="The probe's backbone: lite0, lite1, lite2 or dinov2-s14; join two with + to "
             "concatenate their embeddings (lite2+dinov2-s14).")] = "lite0",
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
                backbones=[b.strip() for b in backbone.replace(",", "+").split("+")
                           if b.strip()],
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""`fieldguide identify`, `calibrate` and `quantise`: batch identification with an artefact's
ONNX export (no torch). Heavy imports happen inside the commands so the CLI starts fast."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fieldguide.cli.common import guarded

if TYPE_CHECKING:
    from fieldguide.identification import Annotation, Classifier, Occurrences, Rule

ModelArg = Annotated[Path, typer.Argument(help="Model artefact folder (model.json, model.onnx).")]
InputArg = Annotated[Path, typer.Argument(
    help="CSV/Parquet (photo_id, path, observation_id?, latitude?, longitude?, label?), "
         "a folder of photos, or a study folder (its photos table).")]
SplitOpt = Annotated[str | None, typer.Option(help="Only rows whose split column is this.")]
Threads = Annotated[int, typer.Option(help="ONNX Runtime threads and decoding threads.")]


def identify(
    model: ModelArg,
    source: InputArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Per-photo .csv or .parquet "
                                         "(per observation: <name>.observations.<ext>).")],
    split: SplitOpt = None,
    top_k: Annotated[int, typer.Option(help="Taxa listed per row.")] = 5,
    threshold: Annotated[float, typer.Option(help="Walk up until a taxon reaches this.")] = 0.9,
    finest: Annotated[str, typer.Option(help="Rank the walk starts at.")] = "species",
    coarsest: Annotated[str, typer.Option(help="Rank the walk stops at.")] = "family",
    validate_rank: Annotated[str, typer.Option(
        help="Decisions at this rank or finer are auto-validated.")] = "species",
    occurrences: Annotated[Path | None, typer.Option(
        help="CSV taxon,latitude,longitude of known records: accept only taxa nearby.")] = None,
    radius_km: Annotated[float, typer.Option(help="Geofence radius.")] = 50.0,
    onnx: Annotated[Path | None, typer.Option(help="Another export, e.g. model.int8.onnx.")] = None,
    batch_size: Annotated[int, typer.Option()] = 32,
    chunk_size: Annotated[int, typer.Option(help="Photos per part file (resume unit).")] = 512,
    threads: Threads = 2,
    no_draft: Annotated[bool, typer.Option(help="Decode JPEGs at full size.")] = False,
) -> None:
    """Identify photos (resumable: rerun the same command after a crash)."""
    from fieldguide.identification import Classifier, Rule, RunOptions, annotate, finish
    from fieldguide.identification.inputs import read_photos

    photos = guarded(lambda: read_photos(source, split))
    clf = guarded(lambda: Classifier(model, threads, onnx))
    rule = Rule(threshold, finest, coarsest, validate_rank)
    options = RunOptions(batch_size, chunk_size, threads, draft=not no_draft)
    fence = guarded(lambda: _occurrences(occurrences, radius_km)) if occurrences else None
    work = output.with_name(f".{output.name}.parts")
    with _bar(len(photos)) as progress:
        result = guarded(lambda: annotate(photos, clf, work, rule=rule, top_k=top_k,
                                          options=options, occurrences=fence,
                                          progress=progress))
    files = finish(result, output, work)
    errors = result.photos.column("error").null_count
    typer.echo(f"{len(photos)} photos ({len(photos) - errors} failed to decode), "
               f"{result.observations.num_rows} observations -> {files[0]}, {files[1]}")
    if "label" in result.photos.column_names:
        _labelled(result, clf, rule)


def calibrate(
    model: ModelArg,
    source: InputArg,
    split: SplitOpt = "val",
    threads: Threads = 2,
) -> None:
    """Fit the temperature on labelled photos (a validation split) and store it in model.json."""
    from fieldguide.identification import calibrate as run
    from fieldguide.identification.inputs import read_photos

    photos = guarded(lambda: read_photos(source, split))
    typer.echo(guarded(lambda: run(model, photos, threads=threads)).text())


def quantise(
    model: ModelArg,
    source: Annotated[Path | None, typer.Argument(help="Calibration photos (static).")] = None,
    split: SplitOpt = "train",
    method: Annotated[str, typer.Option(help="static (QDQ) or dynamic.")] = "static",
    limit: Annotated[int, typer.Option(help="Calibration photos used.")] = 128,
) -> None:
    """Write model.int8.onnx next to the fp32 export (use it with identify --onnx)."""
    from fieldguide.identification.inputs import read_photos
    from fieldguide.identification.quantise import quantise as run

    paths = guarded(lambda: read_photos(source, split)).path[:limit] if source else []
    typer.echo(f"wrote {guarded(lambda: run(model, method, paths))}")


def _occurrences(path: Path, radius_km: float) -> Occurrences:
    import numpy as np

    from fieldguide.identification import Occurrences
    from fieldguide.identification.inputs import read_table

    cols = read_table(path)
    return Occurrences([str(t) for t in cols["taxon"]], np.asarray(cols["latitude"], float),
                       np.asarray(cols["longitude"], float), radius_km)


@contextmanager
def _bar(total: int) -> Iterator[Callable[[int, float], None]]:
    """A progress bar showing photos done and images/s."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn("identify"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]:.1f} images/s"))
    with Progress(*columns) as bar:
        task = bar.add_task("identify", total=total, rate=0.0)
        yield lambda done, rate: bar.update(task, completed=done, rate=rate)


def _labelled(result: Annotation, model: Classifier, rule: Rule) -> None:
    """With labels in the input: accuracy, calibration and the risk-coverage table."""
    from fieldguide.identification.risk import score_labelled

    run = score_labelled(result.probs, result.photos.column("label").to_pylist(),
                         model.classes, model.tree(), rule, model.temperature)
    if run is not None:
        typer.echo(run.text())

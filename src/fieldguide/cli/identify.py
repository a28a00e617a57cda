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
    from fieldguide.identification import Annotation, Identifier

ModelArg = Annotated[Path, typer.Argument(help="Model artefact folder (model.json, model.onnx).")]
InputArg = Annotated[Path, typer.Argument(
    help="CSV/Parquet (photo_id, path, observation_id?, latitude?, longitude?, label?), "
         "a folder of photos, or a study folder (its photos table).")]
SplitOpt = Annotated[str | None, typer.Option(help="Only rows whose split column is this.")]
Threads = Annotated[int, typer.Option(min=1, help="ONNX Runtime threads and decoding threads.")]
EngineOpt = Annotated[str, typer.Option(help="local, or ray (an actor pool on a Ray cluster; "
                                             "pip install 'fieldguide[ray]').")]
AddressOpt = Annotated[str | None, typer.Option(
    help="Ray cluster: auto (the one this machine is in) or ray://HOST:PORT; none starts "
         "a local Ray.")]
ActorsOpt = Annotated[int, typer.Option(min=1, help="Ray actors (ONNX sessions, each with "
                                                    "--threads threads).")]


def identify(
    model: ModelArg,
    source: InputArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Per-photo .csv or .parquet "
                                         "(per observation: <name>.observations.<ext>).")],
    split: SplitOpt = None,
    top_k: Annotated[int, typer.Option(min=1, help="Taxa listed per row.")] = 5,
    threshold: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Walk up until a taxon reaches this.")] = 0.9,
    finest: Annotated[str, typer.Option(help="Rank the walk starts at.")] = "species",
    coarsest: Annotated[str, typer.Option(help="Rank the walk stops at.")] = "family",
    validate_rank: Annotated[str, typer.Option(
        help="Decisions at this rank or finer are auto-validated.")] = "species",
    prior: Annotated[Path | None, typer.Option(
        help="A place-and-season prior (fieldguide prior build) to weigh the vision scores.")
    ] = None,
    require_nearby: Annotated[bool, typer.Option(
        help="Auto-validate only taxa the prior expects nearby.")] = False,
    occurrences: Annotated[Path | None, typer.Option(
        help="CSV taxon,latitude,longitude of known records: accept only taxa nearby.")] = None,
    radius_km: Annotated[float, typer.Option(min=0.001, help="Geofence radius.")] = 50.0,
    no_reject: Annotated[bool, typer.Option(
        "--no-reject", help="Keep photos the model's rejection would flag as unknown or "
                            "unusable (Pl@ntNet's no-reject).")] = False,
    onnx: Annotated[Path | None, typer.Option(help="Another export, e.g. model.int8.onnx.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    chunk_size: Annotated[int, typer.Option(min=1, help="Photos per part file (resume unit).")
                          ] = 512,
    threads: Threads = 2,
    full_decode: Annotated[bool, typer.Option(
        "--full-decode", help="Decode JPEGs at full size (slower; by default a JPEG much larger "
                              "than the crop decodes at reduced scale).")] = False,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    actors: ActorsOpt = 2,
) -> None:
    """Identify photos (resumable: rerun the same command after a crash)."""
    from fieldguide.identification import Identifier, IdentifyOptions, finish
    from fieldguide.identification.inputs import read_photos

    photos = guarded(lambda: read_photos(source, split))
    if photos.url_only:
        typer.secho(f"{photos.url_only} of {len(photos)} photos are known only by URL: they "
                    "get an error row (run `fieldguide photos fetch` first)", err=True,
                    fg=typer.colors.YELLOW)
    options = IdentifyOptions(
        threshold=threshold, finest=finest, coarsest=coarsest, validate_rank=validate_rank,
        require_nearby=require_nearby, prior=prior, occurrences=occurrences,
        radius_km=radius_km, no_reject=no_reject, onnx=onnx, threads=threads,
        batch_size=batch_size, chunk_size=chunk_size, full_decode=full_decode, engine=engine,
        address=address, actors=actors)
    identifier = guarded(lambda: Identifier.from_paths(model, options))
    work = output.with_name(f".{output.name}.parts")
    with _bar(len(photos)) as progress:
        result = guarded(lambda: identifier.annotate(photos, work, top_k=top_k,
                                                     progress=progress))
    files = guarded(lambda: finish(result, output, work))
    errors = result.photos.column("error").null_count
    typer.echo(f"{len(photos)} photos ({len(photos) - errors} failed), "
               f"{result.observations.num_rows} observations -> {files[0]}, {files[1]}")
    if "rejected" in result.photos.column_names:
        rejected = sum(bool(x) for x in result.photos.column("rejected").to_pylist())
        typer.echo(f"rejected as unknown or unusable: {rejected} of {len(photos)} photos")
    if "label" in result.photos.column_names:
        _labelled(result, identifier)


def calibrate(
    model: ModelArg,
    source: InputArg,
    split: SplitOpt = "val",
    threads: Threads = 2,
    prior: Annotated[Path | None, typer.Option(
        help="Fit on the output combined with this place-and-season prior (the one identify "
             "will use; the photos' latitude/longitude/observed_on are its context).")] = None,
) -> None:
    """Fit the temperature on labelled photos (a validation split) and store it in model.json."""
    from fieldguide.identification import calibrate as run
    from fieldguide.identification.identifier import load_priors
    from fieldguide.identification.inputs import read_photos

    photos = guarded(lambda: read_photos(source, split))
    loaded = guarded(lambda: load_priors(prior)[0]) if prior is not None else None
    typer.echo(guarded(lambda: run(model, photos, threads=threads, prior=loaded)).text())


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


@contextmanager
def _bar(total: int) -> Iterator[Callable[[int, float], None]]:
    """A progress bar showing photos done and images/s."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn("identify"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]:.1f} images/s"))
    with Progress(*columns) as bar:
        task = bar.add_task("identify", total=total, rate=0.0)
        yield lambda done, rate: bar.update(task, completed=done, rate=rate)


def _labelled(result: Annotation, identifier: Identifier) -> None:
    """With labels in the input: accuracy, calibration and the risk-coverage table."""
    from fieldguide.identification.risk import score_labelled

    model = identifier.model
    post = result.posterior
    run = score_labelled(result.probs, result.photos.column("label").to_pylist(),
                         model.classes, model.tree(), identifier.rule, model.temperature,
                         rejected=None if post is None else post.rejected,
                         nearby=None if post is None else post.expected_nearby)
    if run is not None:
        typer.echo(run.text())

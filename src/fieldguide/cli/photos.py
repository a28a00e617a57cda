"""``fieldguide photos fetch``: download a study's photos (resumable; rerun after a crash)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from fieldguide.cli.common import DEFAULT_STUDY, StudyOption, guarded, open_study

photos_app = typer.Typer(no_args_is_help=True, help="The photos of a study: fetch them.")


@photos_app.command("fetch")
def fetch(
    study: StudyOption = DEFAULT_STUDY,
    dataset: Annotated[Path | None, typer.Option(
        help="Only the photos this dataset's manifest lists.")] = None,
    size: Annotated[str, typer.Option(
        help="iNaturalist size: square, small, medium, large or original (others as given).")
    ] = "medium",
    concurrency: Annotated[int, typer.Option(help="Downloads at once.")] = 8,
    rate: Annotated[float, typer.Option(
        help="Requests per second per host (0: no limit).")] = 4.0,
    retries: Annotated[int, typer.Option(help="Tries after the first on transient errors.")] = 4,
    timeout: Annotated[float, typer.Option(help="Seconds without progress before a retry.")
    ] = 30.0,
    max_mb: Annotated[float, typer.Option(help="Size cap per photo, in MiB.")] = 25.0,
    verify: Annotated[bool, typer.Option(
        help="Re-hash the files fetched before; fetch again any missing or changed.")] = False,
) -> None:
    """Fetch the study's photos by URL into STUDY/photos, checking each file (complete, an
    image, under the cap); record path, bytes, sha256, width and height. A rerun fetches only
    what is missing or failed with a transient reason."""
    from fieldguide.photos import FetchOptions, fetch_study

    options = guarded(lambda: FetchOptions(concurrency=concurrency, rate=rate, retries=retries,
                                           timeout=timeout, max_bytes=int(max_mb * 2**20)))
    with open_study(study, create=False) as s, _bar() as progress:
        report = guarded(lambda: fetch_study(s, size=size, options=options, dataset=dataset,
                                             verify=verify, progress=progress))
    typer.echo(report.table())


@contextmanager
def _bar() -> Iterator[Callable[[int, int, int], None]]:
    """Photos done of those to fetch, with photos/s and MiB/s since the start."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn("fetch"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[photos_s]:,.1f} photos/s"),
               TextColumn("{task.fields[mib_s]:,.2f} MiB/s"))
    start = time.monotonic()
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("fetch", total=None, photos_s=0.0, mib_s=0.0)

        def update(done: int, total: int, nbytes: int) -> None:
            seconds = max(time.monotonic() - start, 1e-6)
            bar.update(task, completed=done, total=total, photos_s=done / seconds,
                       mib_s=nbytes / 2**20 / seconds)

        yield update

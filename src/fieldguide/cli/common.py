"""Options and error handling shared by every command.

Every command runs inside :class:`GuardedGroup`: whatever it did not foresee (a damaged file,
a full disk, a busy study, Ctrl-C, a bug) ends as ONE line on stderr saying what failed and
what to do, with a non-zero exit; ``--debug`` (or ``FIELDGUIDE_DEBUG=1``) shows the traceback.
Exit codes: 2 bad input or options, 1 anything else, 130 interrupted.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click.core import Context  # typer ships its own click; these are its types
from typer._click.exceptions import ClickException
from typer._click.globals import get_current_context
from typer.core import TyperGroup

if TYPE_CHECKING:
    from fieldguide.store import Study

StudyOption = Annotated[
    Path,
    typer.Option(
        "--study",
        "-s",
        envvar="FIELDGUIDE_STUDY",
        help="Study folder (created on first use).",
        show_default=True,
    ),
]
DEFAULT_STUDY = Path("study")

# Typed option values shared by commands, so an out-of-range value never reaches a stage.
MaxRejectsOption = Annotated[
    int,
    typer.Option(
        "--max-rejects",
        min=0,
        help="Keep going when at most this many rows are refused.",
    ),
]
EncodingOption = Annotated[
    str,
    typer.Option(
        "--encoding",
        help="Text encoding of the input when it is not UTF-8 (e.g. latin-1, cp1252).",
    ),
]
MAX_LINE = 400

# The options that change an identification's answer: `identify` and `serve` take the same
# ones (one Identifier behind both), so they are written once here.
PriorOption = Annotated[Path | None, typer.Option(
    help="A place-and-season prior (fieldguide prior build) to weigh the vision scores.")]
OccurrencesOption = Annotated[Path | None, typer.Option(
    help="CSV taxon,latitude,longitude of known records: accept only taxa nearby.")]
RadiusOption = Annotated[float, typer.Option(min=0.001, help="Geofence radius.")]
ThresholdOption = Annotated[float, typer.Option(
    min=0.0, max=1.0, help="Walk up until a taxon reaches this.")]
FinestOption = Annotated[str, typer.Option(help="Rank the walk starts at.")]
CoarsestOption = Annotated[str, typer.Option(help="Rank the walk stops at.")]
ValidateRankOption = Annotated[str, typer.Option(
    help="Decisions at this rank or finer are auto-validated.")]
RequireNearbyOption = Annotated[bool, typer.Option(
    help="Auto-validate only taxa the prior expects nearby.")]
GroupThresholdsOption = Annotated[bool, typer.Option(
    "--group-thresholds/--no-group-thresholds",
    help="Apply the card's thresholds per taxon group (calibrate --groups-at), where it has "
         "them; classes in no group face --threshold.")]
TaxaOption = Annotated[Path | None, typer.Option(
    help="A checklist (one taxon name per line, any rank): answer only among its taxa, "
         "probabilities renormalised (column mass_outside); names the model lacks are "
         "skipped.")]
WithinOption = Annotated[str | None, typer.Option(
    help="Answer only within this taxon (e.g. a family), renormalised.")]
PlaceListsOption = Annotated[Path | None, typer.Option(
    help="CSV place,taxon,list of allow/block lists per ISO country, region or H3 cell: a "
         "blocked taxon rolls up to its first allowed ancestor.")]
PlaceFixesOption = Annotated[Path | None, typer.Option(
    help="CSV place,taxon,list (allow, block or remove) of corrections to --place-lists.")]


def fail(message: str) -> typer.Exit:
    """Print a one-line error (no traceback) and return the exit to raise."""
    typer.secho(f"error: {_one_line(message)}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _one_line(message: str) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 3] + "..."


def debug_enabled() -> bool:
    """``--debug`` on the command line or FIELDGUIDE_DEBUG set to a true value."""
    ctx = get_current_context(silent=True)
    if ctx is not None and ctx.find_root().params.get("debug"):
        return True
    return os.environ.get("FIELDGUIDE_DEBUG", "").lower() in ("1", "true", "yes", "on")


def wait_seconds() -> float:
    """``--wait SECONDS`` from the command line (how long to wait for a busy study)."""
    ctx = get_current_context(silent=True)
    value = ctx.find_root().params.get("wait") if ctx is not None else None
    return float(value or 0.0)


def describe(exc: BaseException) -> tuple[str, int]:
    """The one line and exit code for an exception nobody caught (see module doc)."""
    from fieldguide.errors import InputError

    if isinstance(exc, InputError):
        return str(exc), 2
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted; rerun the same command to continue (finished work is kept)", 130
    if isinstance(exc, MemoryError):
        return "out of memory; use a smaller --batch-size or --chunk-size, or a smaller input", 1
    if type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"database error: {first} (is the study damaged? rerun with --debug)", 1
    if isinstance(exc, UnicodeDecodeError):
        return (f"a file is not UTF-8 text (byte 0x{exc.object[exc.start]:02X} at offset "
                f"{exc.start}); re-save it as UTF-8"), 2
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            return f"{where}no space left on the device; free some space and rerun", 1
        if isinstance(exc, PermissionError):
            return f"{where}permission denied; check the file's owner and mode", 2
        if isinstance(exc, IsADirectoryError):
            return f"{where}is a folder; expected a file", 2
        if isinstance(exc, NotADirectoryError):
            return f"{where}a part of this path is a file, not a folder", 2
        if isinstance(exc, FileNotFoundError):
            return f"{where}not found", 2
        return f"{where}{exc.strerror or exc}", 1
    return (f"unexpected {type(exc).__name__}: {exc} (a bug in fieldguide; rerun with --debug "
            "for the traceback and report it)"), 1


class GuardedGroup(TyperGroup):
    """The app's root group: runs the chosen command and turns any escape into one line."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, ClickException, SystemExit):
            raise
        except BaseException as exc:  # the one place where everything is caught
            if debug_enabled():
                raise
            message, code = describe(exc)
            typer.secho(f"error: {_one_line(message)}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=code) from None


@contextmanager
def open_study(path: Path, *, create: bool = True, read_only: bool = False) -> Iterator[Study]:
    """Open a study (waiting up to ``--wait`` seconds when another process holds it) and
    turn bad input into a clean CLI error. ``read_only`` for commands that only read."""
    from fieldguide.errors import InputError
    from fieldguide.store import Study

    try:
        study = Study(path, create=create and not read_only, read_only=read_only,
                      wait=wait_seconds())
    except InputError as exc:
        raise fail(str(exc)) from None
    try:
        yield study
    except InputError as exc:
        raise fail(str(exc)) from None
    finally:
        study.close()


def guarded(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and report an :class:`InputError` as a clean error line."""
    from fieldguide.errors import InputError

    try:
        return fn()
    except InputError as exc:
        raise fail(str(exc)) from None

"""Options and error handling shared by every command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

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


def fail(message: str) -> typer.Exit:
    """Print a one-line error (no traceback) and return the exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


@contextmanager
def open_study(path: Path, *, create: bool = True) -> Iterator[Study]:
    """Open a study and turn bad input into a clean CLI error."""
    from fieldguide.errors import InputError
    from fieldguide.store import Study

    try:
        with Study(path, create=create) as study:
            yield study
    except InputError as exc:
        raise fail(str(exc)) from None


def guarded(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and report an :class:`InputError` as a clean error line."""
    from fieldguide.errors import InputError

    try:
        return fn()
    except InputError as exc:
        raise fail(str(exc)) from None

"""``fieldguide ingest <format>``: one command per registered ingest format
(:data:`fieldguide.ingest.FORMATS`), generated from the format's declaration by
:class:`~fieldguide.cli.plugins.FormatGroup`; a refused file is one clean error line and
changes nothing.

Options are typed (choices, ranges), so an unknown mode or a negative count is refused by the
parser before any file is opened."""

from __future__ import annotations

import typer

from fieldguide.cli.plugins import FormatGroup

ingest_app = typer.Typer(cls=FormatGroup, no_args_is_help=True, rich_markup_mode=None,
                         help="Bring data into a study.")


@ingest_app.callback()
def _formats() -> None:
    """Bring data into a study (a group even when run on its own: its commands are made on
    demand, so typer sees none at definition time)."""

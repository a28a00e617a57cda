"""The command line's side of the registries (:mod:`fieldguide.registry`): help texts that
list a registry's names, and the ``fieldguide ingest <format>`` commands generated from the
ingest formats' declarations by this one piece of code.

Registries are named by ``"module:attr"`` and looked up only when a help text is shown or a
command runs, so ``fieldguide --help`` imports none of them.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from typer._click.core import Command, Context
from typer._click.formatting import HelpFormatter
from typer.core import TyperCommand, TyperGroup

from fieldguide.cli.common import DEFAULT_STUDY, StudyOption, guarded, open_study

if TYPE_CHECKING:
    from fieldguide.ingest.format import IngestFormat, Param
    from fieldguide.registry import Registry


def registry(ref: str) -> Registry[Any]:
    """The registry a ``"module:attr"`` reference names (imported now)."""
    from fieldguide.registry import load_target

    found: Registry[Any] = load_target(ref)
    return found


def listing(ref: str, title: str) -> type[TyperCommand]:
    """A command class whose ``--help`` ends with the names and help texts of the registry
    ``ref`` (plug-ins included), under ``title``."""

    class Listed(TyperCommand):
        def format_epilog(self, ctx: Context, formatter: HelpFormatter) -> None:
            with formatter.section(title):
                formatter.write_dl(registry(ref).help_lines())
            super().format_epilog(ctx, formatter)

    return Listed


class FormatGroup(TyperGroup):
    """``fieldguide ingest``: one command per registered ingest format, made on demand from
    its :class:`~fieldguide.ingest.format.IngestFormat` (listing them loads none)."""

    def list_commands(self, ctx: Context) -> list[str]:
        from fieldguide.ingest.format import FORMATS

        return FORMATS.names()

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        from fieldguide.ingest.format import FORMATS

        if cmd_name not in FORMATS:
            return None
        return format_command(cmd_name, guarded(lambda: FORMATS[cmd_name]),
                              FORMATS.help(cmd_name))

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None,
                                                                     list[str]]:
        from fieldguide.ingest.format import FORMATS

        if args and not args[0].startswith("-") and args[0] not in FORMATS:
            ctx.fail(FORMATS.unknown(args[0]).reason)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        from typer._click.utils import make_default_short_help

        from fieldguide.ingest.format import FORMATS

        rows = FORMATS.help_lines()
        limit = formatter.width - 6 - max((len(name) for name, _ in rows), default=0)
        with formatter.section("Commands"):
            formatter.write_dl([(name, make_default_short_help(text, limit))
                                for name, text in rows])


def format_command(name: str, fmt: IngestFormat, text: str) -> Command:
    """The ``ingest <name>`` command of ``fmt``: its source argument, the study option, then
    the format's options; it opens the study, ingests and prints the report's summary."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(fmt.source, kind, annotation=Path),
              inspect.Parameter("study", kind, annotation=StudyOption, default=DEFAULT_STUDY)]
    params += [inspect.Parameter(p.name, kind, annotation=_annotation(p), default=p.default)
               for p in fmt.options]

    def run(**values: Any) -> None:
        source = values.pop(fmt.source)
        with open_study(values.pop("study")) as s:
            typer.echo(guarded(lambda: fmt.ingest(s, source, **values)).summary())

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    app = typer.Typer(rich_markup_mode=None, add_completion=False)
    app.command(name, help=fmt.description or text)(run)
    return typer.main.get_command(app)


def _annotation(p: Param) -> Any:
    """The typer annotation of one declared parameter (see ``Param``'s kinds)."""
    option = typer.Option(*(p.flags or (f"--{p.name.replace('_', '-')}",)), help=p.help,
                          min=p.minimum)
    kind: Any
    if p.kind == "flag":
        kind = bool
    elif p.kind == "int":
        kind = int
    elif p.kind == "path":
        kind = Path
    elif p.kind == "texts":
        kind = list[str]
    elif p.choices:
        kind = Literal.__getitem__(p.choices)
    else:
        kind = str
    if p.default is None:
        kind = kind | None
    return Annotated[kind, option]

"""The docs kept true: every command README shows exists and takes the options it names, and
docs/architecture.md describes every package and says where new code goes.

The README's commands are checked with ``--help`` in this one process (Typer's CliRunner on
the real app), so the check costs a second, not forty interpreter starts.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fieldguide.cli.main import app

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "fieldguide"
# The questions the architecture page answers, one row each in its "Where does a new X go"
# table (the first cell names the X).
NEW_THINGS = ("vote method", "backbone", "prior", "ingest format", "curation rule",
              "model kind", "CLI command", "service route", "stage package")


def readme_commands() -> list[str]:
    """The ``fieldguide ...`` lines of README.md's code blocks, comments stripped."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            command = re.split(r"\s+#", line.strip(), maxsplit=1)[0].strip()
            if command.startswith("fieldguide "):
                lines.append(command)
    return lines


def command_path(words: list[str]) -> tuple[list[str], bool]:
    """The leading words of a command line that name (sub)commands of the real app, and
    whether they end on a group (which would only print its list of commands)."""
    command: Any = typer.main.get_command(app)  # typer's click: groups have get_command
    path = []
    for word in words:
        # a group's commands may be made on demand (the ingest formats): ask, don't look
        found = (command.get_command(typer.Context(command), word)
                 if hasattr(command, "list_commands") else None)
        if found is None:
            break
        command = found
        path.append(word)
    return path, hasattr(command, "list_commands")


def test_the_readme_shows_commands() -> None:
    assert len(readme_commands()) >= 20


@pytest.mark.parametrize("line", readme_commands())
def test_each_readme_command_exists_and_takes_its_options(line: str) -> None:
    words = shlex.split(line)[1:]
    path, is_group = command_path(words)
    assert path, f"{line!r}: {words[0]!r} is not a fieldguide command"
    assert not is_group, f"{line!r}: `fieldguide {' '.join(path)}` is a group; name its command"
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200,
                                env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    assert result.exit_code == 0, f"{line!r}: {result.output}"
    help_text = result.output
    named = [w.split("=", 1)[0] for w in words if w.startswith("--")]
    missing = [o for o in named if not re.search(rf"{re.escape(o)}(?![\w-])", help_text)]
    assert not missing, f"{line!r}: `fieldguide {' '.join(path)}` has no {', '.join(missing)}"


def architecture() -> str:
    return (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")


def table_first_cells(text: str, heading: str | None = None) -> list[str]:
    """First cells of the Markdown table rows, under ``heading`` when one is given."""
    if heading is not None:
        start = text.index(heading)
        end = text.find("\n#", start + 1)
        text = text[start:end if end >= 0 else None]
    cells = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"\|\s*-", line):
            cells.append(line.split("|")[1].strip())
    return cells


def test_the_architecture_table_lists_every_package_and_module() -> None:
    names = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    names |= {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    listed = set()
    for cell in table_first_cells(architecture()):
        listed |= {name.removesuffix(".py") for name in re.findall(r"`([\w.]+)`", cell)}
    missing = sorted(names - listed)
    assert not missing, f"docs/architecture.md's package table leaves out {missing}"


def test_the_architecture_says_where_new_things_go() -> None:
    text = architecture()
    heading = next((h for h in re.findall(r"^#+ .*$", text, flags=re.M)
                    if "Where does a new" in h), None)
    assert heading is not None, "no 'Where does a new X go' section"
    rows = " | ".join(table_first_cells(text, heading)).lower()
    missing = [thing for thing in NEW_THINGS if thing.lower() not in rows]
    assert not missing, f"'{heading}' has no row for {missing}"
    assert "plugins.md" in text, "the registry details live in docs/plugins.md: link to it"

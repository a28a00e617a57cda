"""TOML specs (dataset, training, family) read one way: a regular UTF-8 file of at most 1 MiB,
parsed by tomllib, and a refusal of one of its values pointed at the line that sets it
(tomllib keeps no positions, so the line is found again in the text)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fieldguide.errors import InputError
from fieldguide.inputs.text import read_text

T = TypeVar("T")


def load_toml_spec(path: str | Path, what: str,
                   parse: Callable[[dict[str, Any], Path], T]) -> T:
    """``parse(table, path)`` of the TOML file at ``path``; an ``InputError`` it raises that
    names a dotted key (``probe.l2``) but no line gets the line that sets the key."""
    path = Path(path)
    text = read_text(path, what=what, max_bytes=2**20)
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=path) from None
    try:
        return parse(table, path)
    except InputError as exc:
        if exc.line is not None or exc.field is None:
            raise
        raise InputError(exc.reason, path=exc.path, line=line_of(text, exc.field),
                         field=exc.field) from None


def line_of(text: str, dotted: str) -> int | None:
    """The line that sets ``dotted`` (``probe.l2``): ``l2 =`` under ``[probe]``, or
    ``probe.l2 =`` above the tables."""
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        if stripped.startswith("["):
            table = stripped.strip("[] ")
            continue
        key, equals, _ = stripped.partition("=")
        key = key.replace(" ", "").replace('"', "")
        if equals and (f"{table}.{key}" if table else key) == dotted:
            return number
    return None

"""JSON input: UTF-8, sized before it is read, and of the shape the caller expects.

A list where a mapping belongs, or a number where a label belongs, is refused here with the
file and the key, not later as an AttributeError deep in a stage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fieldguide.errors import InputError
from fieldguide.inputs.files import read_bytes
from fieldguide.inputs.text import UTF8, decode

MAX_JSON_BYTES = 4 * 2**30


def read_json(path: str | Path, *, what: str = "JSON file", encoding: str = UTF8) -> Any:
    """Parse a JSON file; errors name the line (and column) where parsing stopped."""
    p = Path(path)
    data = read_bytes(p, what=what, max_bytes=MAX_JSON_BYTES)
    if not data.strip():
        raise InputError(f"{what} is empty", path=p)
    text = decode(data, p, encoding)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg} (column {exc.colno})", path=p,
                         line=exc.lineno) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", path=p) from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), "a value")


def expect_mapping(data: Any, path: str | Path, shape: str) -> dict[str, Any]:
    """``data`` if it is a JSON object, else InputError saying what was found."""
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object {shape}, found {_kind(data)}", path=path)
    return data


def expect_scalars(data: dict[str, Any], path: str | Path, what: str) -> dict[str, Any]:
    """A mapping whose values are all strings or numbers (labels, scores)."""
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InputError(f"{what} must be a string or a number, found {_kind(value)}",
                             path=path, field=str(key))
        if isinstance(value, str) and "\x00" in value:
            raise InputError("NUL byte in a value", path=path, field=str(key))
    return data


def expect_nested_mapping(data: Any, path: str | Path, shape: str) -> dict[str, dict[str, Any]]:
    """``{key: {key: scalar}}`` (peerannot's answers.json)."""
    outer = expect_mapping(data, path, shape)
    for key, inner in outer.items():
        if not isinstance(inner, dict):
            raise InputError(f"expected an object {shape}, found {_kind(inner)}", path=path,
                             field=str(key))
        for k, v in inner.items():
            if isinstance(v, dict | list) or "\x00" in str(k) or "\x00" in str(v):
                raise InputError(f"expected a label for worker {k!r}, found {_kind(v)}",
                                 path=path, field=str(key))
    return outer

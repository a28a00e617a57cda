"""One error type for bad input, so every stage reports file, line and field the same way."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Input that fieldguide refuses, with where it is wrong.

    The message reads ``path, line N, field 'x': reason`` so a person can open the file at the
    right place; nothing in the study has been changed when this is raised.
    """

    def __init__(
        self,
        reason: str,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

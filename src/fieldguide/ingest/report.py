"""What an ingestion did: rows read, kept and rejected, with reasons and line numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Rejection:
    """One refused row: where it is and why."""

    line: int | None
    reason: str
    field: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "row"
        return f"{where}{f', field {self.field!r}' if self.field else ''}: {self.reason}"


@dataclass
class IngestReport:
    """Returned by every ingester and stored (as JSON) in the study's ``imports`` table."""

    kind: str
    path: Path
    rows_read: int = 0
    rows_kept: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: bool = False

    @property
    def rows_rejected(self) -> int:
        return self.rows_read - self.rows_kept

    def as_dict(self, max_rejections: int = 100) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_rejected": self.rows_rejected,
            "rejections": [str(r) for r in self.rejections[:max_rejections]],
            "counts": self.counts,
            "notes": self.notes,
            "skipped": self.skipped,
        }

    def summary(self) -> str:
        """A few human lines, as the CLI prints them."""
        if self.skipped:
            return f"{self.path}: already imported (same content), nothing to do"
        lines = [
            f"{self.path} ({self.kind}): read {self.rows_read:,}, kept {self.rows_kept:,}, "
            f"rejected {self.rows_rejected:,}"
        ]
        lines += [f"  {name}: {value:,}" for name, value in self.counts.items()]
        lines += [f"  rejected {r}" for r in self.rejections[:10]]
        if len(self.rejections) > 10:
            lines.append(f"  ... and {len(self.rejections) - 10:,} more rejections")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

"""The study workspace: a folder holding an embedded DuckDB database (no server to start)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fieldguide.store.schema import SCHEMA_VERSION, TABLES
from fieldguide.store.study import Study, source_digest

if TYPE_CHECKING:
    from fieldguide.store.taxa import load_taxonomy

__all__ = ["SCHEMA_VERSION", "TABLES", "Study", "load_taxonomy", "source_digest"]


def __getattr__(name: str) -> Any:
    # load_taxonomy brings the taxonomy package (and rapidfuzz, about 70 ms) to every command
    # that opens a study; imported when first asked for.
    if name == "load_taxonomy":
        from fieldguide.store.taxa import load_taxonomy

        return load_taxonomy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The study workspace: a folder holding an embedded DuckDB database (no server to start)."""

from fieldguide.store.schema import SCHEMA_VERSION, TABLES
from fieldguide.store.study import Study, source_digest
from fieldguide.store.taxa import load_taxonomy

__all__ = ["SCHEMA_VERSION", "TABLES", "Study", "load_taxonomy", "source_digest"]

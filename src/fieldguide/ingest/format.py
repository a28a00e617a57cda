"""What an ingest format declares, once: the function that ingests, the source it reads and
its options. ``fieldguide ingest <format>`` is generated from this declaration
(:mod:`fieldguide.cli.plugins`), so a new format is one module with a :class:`IngestFormat`
plus one line in :data:`FORMATS`; no CLI code is written per format.

This module imports nothing heavy: the registry lists formats without loading them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fieldguide.registry import Registry

if TYPE_CHECKING:
    from fieldguide.ingest.report import IngestReport
    from fieldguide.store import Study


@dataclass(frozen=True)
class Param:
    """One command-line parameter of a format, passed to its function as ``name=value``.

    ``kind``: ``"path"``, ``"text"``, ``"int"``, ``"flag"`` (a switch) or ``"texts"`` (a
    repeatable option). ``flags`` default to ``--name-with-dashes``; ``choices`` limit a text
    to those words; ``minimum`` bounds an int; ``default`` None means "not given".
    """

    name: str
    help: str
    kind: str = "text"
    default: Any = None
    flags: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    minimum: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("path", "text", "int", "flag", "texts"):
            raise ValueError(f"parameter {self.name}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class IngestFormat:
    """An ingest format: ``run(study, source, **options)`` returns the ingest report.

    ``source`` names the positional argument (the file or folder read, as the help shows it);
    ``options`` are the format's parameters in the order ``--help`` lists them (the study
    option is every command's and comes first); ``description`` is the command's full help
    (its first line is the registry's one-line help for built-ins).
    """

    run: Callable[..., IngestReport]
    source: str
    options: tuple[Param, ...] = ()
    description: str = ""

    @property
    def help(self) -> str:
        """First paragraph of the description (a plug-in's one-line help in listings)."""
        return " ".join(self.description.split("\n\n")[0].split())

    def ingest(self, study: Study, path: Path, /, **options: Any) -> IngestReport:
        """Ingest ``path`` into ``study`` (``options`` by their declared names)."""
        return self.run(study, path, **options)


# Parameters several formats share, declared once.
TAXA = Param("taxa", "extend: unknown names become new taxa; strict: refuse them.",
             default="extend", choices=("extend", "strict"))
MAX_REJECTS = Param("max_rejects", "Keep going when at most this many rows are refused.",
                    kind="int", default=0, minimum=0)
FORCE = Param("force", "Ingest even if this content was before.", kind="flag", default=False)
# DuckDB's delimited reader decodes these itself; any other encoding is refused with a hint.
ENCODING = Param("encoding", "The table's text encoding when it is not UTF-8: latin-1 or utf-16 "
                 "(for another one, re-save the file as UTF-8).", default="utf-8")

_I = "fieldguide.ingest"
#: Ingest formats by name: ``fieldguide ingest <name>`` (plug-ins: ``fieldguide.ingest``).
FORMATS: Registry[IngestFormat] = Registry("ingest", "ingest format", [
    ("inat", f"{_I}.inat_csv:FORMAT", "An iNaturalist observation export (CSV)."),
    ("dwca", f"{_I}.dwca:FORMAT", "A Darwin Core Archive from GBIF (folder or .zip)."),
    ("votes", f"{_I}.votes_format:FORMAT",
     "Crowd votes: CSV task,worker,label or peerannot answers.json."),
    ("images", f"{_I}.image_folder:FORMAT",
     "A folder of photos laid out as label/image.jpg (optionally under train/ test/)."),
    ("gbif-csv", f"{_I}.gbif_csv:FORMAT",
     "A GBIF occurrence table saved as CSV (e.g. GBIF-mediated iNaturalist records)."),
    ("traits", f"{_I}.traits:FORMAT",
     "Trait annotations per observation or photo: ImageAnt phenology labels, a column of an "
     "iNaturalist export (--key id --trait flowering=flowering), any table keyed by id."),
    ("inat-open-data", f"{_I}.inat_open_data:FORMAT",
     "iNaturalist's open-data tables (observations, photos, taxa, observers; .csv[.gz])."),
    ("taxonomy", f"{_I}.taxonomy_file:FORMAT",
     "A reference taxonomy with its synonyms (then ingest with --taxa strict)."),
], field="format")

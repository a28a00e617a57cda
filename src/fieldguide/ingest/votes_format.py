"""The ``votes`` ingest format's declaration, kept beside :mod:`fieldguide.ingest.votes` so
that module (the vote files' one reader) keeps one owner; the command line's ``--ai`` and
``--labels`` are its ``ai_answers`` and ``taxa``."""

from __future__ import annotations

from fieldguide.ingest.format import ENCODING, FORCE, MAX_REJECTS, IngestFormat, Param
from fieldguide.ingest.votes import ingest_votes

FORMAT = IngestFormat(ingest_votes, "votes", (
    Param("authors", "One author per task line.", kind="path"),
    Param("ai_answers", "AI answers JSON {task: label}.", kind="path", flags=("--ai",)),
    Param("ai_scores", "AI scores JSON {task: p}.", kind="path"),
    Param("truth", "task,truth CSV or one per line.", kind="path"),
    Param("taxa", "ignore: labels are codes; extend/strict: labels are taxon names.",
          default="ignore", flags=("--labels",), choices=("ignore", "extend", "strict")),
    MAX_REJECTS, FORCE, ENCODING))

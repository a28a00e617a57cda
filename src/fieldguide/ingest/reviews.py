"""An expert's verdict on one observation, written into the study as one identification, so
``aggregate``, ``dataset build`` and ``train`` take it up as they take any crowd vote.

The write goes through the ingesters' own writer (:func:`~fieldguide.ingest.commit.write_import`:
one transaction that records the import, kind ``review``, and its rows), so the verdict
carries an ``import_id`` naming who gave it and when, and a refused verdict writes nothing.
As with ``ingest votes``, a reviewer's earlier identifications of the same observation stay
as history (not current): the latest verdict is the reviewer's one vote.

A verdict names a taxon of the study (agree, or another taxon) or is :data:`UNSURE`. An unsure
verdict is kept in the history (label ``unsure``, no taxon, never current), so it withdraws
that reviewer's earlier vote on the observation and is itself no vote: an expert who is not
sure adds nothing to the crowd's count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from fieldguide.errors import InputError
from fieldguide.ingest.commit import write_import
from fieldguide.ingest.report import IngestReport
from fieldguide.store import Study
from fieldguide.store.sql import first_row

KIND = "review"
#: The label an unsure verdict is stored under (never current, so never counted as a vote).
UNSURE = "unsure"


@dataclass(frozen=True)
class Verdict:
    """What was written: the observation, the reviewer (the identification's ``user_id``),
    the taxon (None when unsure), when, and the import that holds it."""

    observation_id: str
    reviewer: str
    taxon: str | None
    created_at: datetime
    import_id: int


def study_taxon(con: duckdb.DuckDBPyConnection, name: str) -> tuple[int, str]:
    """The study's taxon of this name (or of this synonym): its id and accepted name; an
    unknown name is an InputError naming the closest names the study has."""
    row = first_row(con.execute(
        "SELECT taxon_id, name FROM taxa WHERE name = ? ORDER BY taxon_id LIMIT 1", [name]))
    if row is None:
        row = first_row(con.execute(
            "SELECT t.taxon_id, t.name FROM synonyms s JOIN taxa t USING (taxon_id) "
            "WHERE s.name = ? ORDER BY t.taxon_id LIMIT 1", [name]))
    if row is not None:
        return int(row[0]), str(row[1])
    close = [r[0] for r in con.execute(
        "SELECT DISTINCT name, jaro_winkler_similarity(lower(name), lower(?)) AS s FROM taxa "
        "ORDER BY s DESC, name LIMIT 3", [name]).fetchall()]
    hint = f" (closest: {', '.join(close)})" if close else " (the study has no taxa)"
    raise InputError(f"unknown taxon {name!r}{hint}", field="taxon")


def record_verdict(study: Study, observation_id: str, reviewer: str, taxon: str | None,
                   when: datetime | None = None) -> Verdict:
    """Write one reviewer's verdict on one observation (``taxon`` None: unsure) in one
    transaction. An observation or taxon the study does not have is an InputError (field
    ``observation_id`` or ``taxon``) and nothing is written."""
    if not reviewer or "\x00" in reviewer:
        raise InputError("empty reviewer name, or a NUL byte in it", field="reviewer")
    when = when or datetime.now()
    con = study.con
    if first_row(con.execute("SELECT 1 FROM observations WHERE observation_id = ? LIMIT 1",
                             [observation_id])) is None:
        raise InputError(f"unknown observation {observation_id!r} (not in the study)",
                         field="observation_id")
    taxon_id, name = study_taxon(con, taxon) if taxon is not None else (None, UNSURE)
    report = IngestReport(kind=KIND, path=Path(f"review:{reviewer}"), rows_read=1, rows_kept=1)
    report.counts.update(votes=int(taxon is not None), unsure=int(taxon is None))
    written: list[int] = []

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        con.execute("UPDATE identifications SET is_current = false "
                    "WHERE observation_id = ? AND user_id = ? AND is_current",
                    [observation_id, reviewer])
        con.execute(
            "INSERT INTO identifications (observation_id, user_id, label, taxon_id, "
            "is_current, created_at, is_author, import_id) VALUES (?, ?, ?, ?, ?, ?, false, ?)",
            [observation_id, reviewer, name, taxon_id, taxon is not None, when, import_id])
        written.append(import_id)

    write_import(study, report, write)
    return Verdict(observation_id, reviewer, None if taxon is None else name, when, written[0])


def reviewed_by(study: Study, reviewer: str) -> set[str]:
    """The observations this reviewer has given a verdict on (a review session resumes
    without them)."""
    rows = study.con.execute(
        "SELECT DISTINCT observation_id FROM identifications WHERE user_id = ? AND import_id "
        "IN (SELECT import_id FROM imports WHERE kind = ?)", [reviewer, KIND]).fetchall()
    return {str(r[0]) for r in rows}


def search_taxa(study: Study, text: str, limit: int = 20) -> list[tuple[str, str | None]]:
    """The study's taxa whose name contains ``text`` (case-insensitive), names starting with
    it first: (name, rank) pairs for an autocomplete."""
    rows = study.con.execute(
        "SELECT name, any_value(rank) FROM taxa WHERE contains(lower(name), lower(?)) "
        "GROUP BY name ORDER BY NOT starts_with(lower(name), lower(?)), length(name), name "
        "LIMIT ?", [text, text, limit]).fetchall()
    return [(str(n), None if r is None else str(r)) for n, r in rows]

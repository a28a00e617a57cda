"""What the review page needs besides the model: who may review (:class:`Reviewers`, read
from ``--reviewers FILE``), the study their verdicts go into (:class:`ReviewDesk`) and the
queues besides reverse search: the observations a curation rule flagged for review
(``--review-manifest``: a dataset manifest's ``needs_review`` rows) and those whose model
decision was not auto-validated (``--review-identifications``: an ``identify`` output). Both
files are read once, when the service starts; a bad one stops it with one line.

The study is opened for each request and closed after it, never held: ``aggregate`` or an
``ingest`` can run between two verdicts (DuckDB lets one process write a database file at a
time; a request waits up to ``wait`` seconds for another process to let go, then answers
503). Within the service one lock takes the requests to the study one at a time, so two
reviewers posting at once are written one after the other and nothing is lost.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException

from fieldguide.errors import InputError
from fieldguide.store import Study

if TYPE_CHECKING:
    from fieldguide.curation.manifest import FlaggedPhoto

#: Shorter tokens are refused: a reviewer's token is all that stands between the internet
#: and the study's training labels.
MIN_TOKEN = 16


@dataclass(frozen=True)
class Reviewers:
    """Reviewer names and the SHA-256 of their tokens (the tokens themselves are not kept)."""

    names: tuple[str, ...]
    digests: tuple[bytes, ...]

    def who(self, token: str) -> str | None:
        """The reviewer holding ``token``, or None. Every digest is compared, each in
        constant time, so the answer's timing says nothing of which token came close."""
        offered = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found = None
        for name, digest in zip(self.names, self.digests, strict=True):
            if hmac.compare_digest(offered, digest):
                found = name
        return found


def read_reviewers(path: str | Path) -> Reviewers:
    """``--reviewers FILE``: one ``name token`` per line (blank lines and ``#`` comments
    skipped). A bad line is one InputError naming the file, line and field: not two words, a
    token shorter than :data:`MIN_TOKEN` characters, a name or a token given twice."""
    from fieldguide.inputs import read_lines

    names: dict[str, int] = {}
    digests: dict[bytes, int] = {}
    for number, line in enumerate(read_lines(path, what="reviewers file"), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        words = text.split()
        if len(words) != 2:
            raise InputError(f"expected 'name token', found {len(words)} word(s)", path,
                             number)
        name, token = words
        if len(token) < MIN_TOKEN:
            raise InputError(f"token shorter than {MIN_TOKEN} characters (easy to guess)",
                             path, number, "token")
        digest = hashlib.sha256(token.encode()).digest()
        if name in names:
            raise InputError(f"reviewer {name!r} already named on line {names[name]}", path,
                             number, "name")
        if digest in digests:
            raise InputError(f"the same token as line {digests[digest]}", path, number,
                             "token")
        names[name], digests[digest] = number, number
    if not names:
        raise InputError("no reviewers (one 'name token' per line)", path)
    return Reviewers(tuple(names), tuple(digests))


@dataclass(frozen=True)
class Flagged:
    """One observation of the "flagged for review" queue: its flagged photos, the label the
    dataset gives it, why it was flagged and the taxon ``label_noise`` suggests (if any)."""

    observation_id: str
    photo_ids: tuple[str, ...]
    label: str
    reasons: tuple[str, ...]
    suggested: str | None


@dataclass(frozen=True)
class Unvalidated:
    """One observation of the "not auto-validated" queue: the model's decision (taxon and
    rank; None where no rank reached the threshold), its status and reasons in words, as
    ``export`` reads them from the ``identify`` output, and the study's photos of it."""

    observation_id: str
    taxon: str | None
    rank: str | None
    status: str
    remarks: str
    photo_ids: tuple[str, ...]


class ReviewDesk:
    """The study the verdicts are written into, who may write them, and the queues read from
    files when the service starts (empty without them)."""

    def __init__(self, study: str | Path, reviewers: Reviewers, wait: float = 10.0,
                 manifest: str | Path | None = None,
                 identifications: str | Path | None = None) -> None:
        self.root = Path(study)
        self.reviewers = reviewers
        self.wait = wait
        self._lock = threading.Lock()
        self._photos: dict[str, list[str]] | None = None
        self._columns: dict[str, list[str]] = {}
        #: The files of the photos the file-read queues show (served to reviewers by id).
        self.photo_paths: dict[str, Path] = {}
        self.flagged: list[Flagged] = []
        self.unvalidated: list[Unvalidated] = []
        # a missing or damaged study fails at start, not at the first verdict
        with Study(self.root, create=False, read_only=True, wait=wait) as opened:
            if manifest is not None:
                self.flagged = self._read_flagged(opened, Path(manifest))
            if identifications is not None:
                self.unvalidated = self._read_unvalidated(opened, Path(identifications))

    def _known(self, study: Study, ids: list[str], what: str, path: Path) -> set[str]:
        """Which of ``ids`` the study has; none at all is an InputError (the file belongs
        to another study, and no verdict on it could be written)."""
        rows = study.con.execute(
            "SELECT DISTINCT observation_id FROM observations "
            "WHERE observation_id IN (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()
        known = {str(r[0]) for r in rows}
        if ids and not known:
            raise InputError(f"none of its {len(ids)} {what} observation(s) is in the study "
                             f"{self.root} (a file of another study?)", path)
        return known

    def _read_flagged(self, study: Study, manifest: Path) -> list[Flagged]:
        """The manifest's flagged rows, one entry per observation the study has, in the
        manifest's order."""
        from fieldguide.curation.manifest import read_flagged

        rows = read_flagged(manifest)
        known = self._known(study, list(dict.fromkeys(r.observation_id for r in rows)),
                            "flagged", manifest)
        grouped: dict[str, list[FlaggedPhoto]] = {}
        for row in rows:
            if row.observation_id in known:
                grouped.setdefault(row.observation_id, []).append(row)
                if row.path is not None:
                    self.photo_paths[row.photo_id] = row.path
        return [Flagged(obs, tuple(r.photo_id for r in group), group[0].taxon,
                        tuple(dict.fromkeys(r.reason for r in group)),
                        next((r.suggested for r in group if r.suggested), None))
                for obs, group in grouped.items()]

    def _read_unvalidated(self, study: Study, path: Path) -> list[Unvalidated]:
        """The observations of an ``identify`` output whose decision was not auto-validated
        (rejected, rolled up, or no taxon), read by the export's reader of that output, with
        their photos from the study."""
        from fieldguide.export.build import decisions_from_identify

        decisions = [d for d in decisions_from_identify(path, identified_by="model",
                                                        threshold=None)
                     if d.status != "auto-validated"]
        known = self._known(study, [d.observation_id for d in decisions],
                            "not auto-validated", path)
        photos: dict[str, list[str]] = {}
        for photo, obs, where in study.con.execute(
                "SELECT photo_id, observation_id, path FROM photos "
                "WHERE observation_id IN (SELECT unnest(?::VARCHAR[])) "
                "ORDER BY observation_id, position, photo_id", [sorted(known)]).fetchall():
            photos.setdefault(str(obs), []).append(str(photo))
            if where:
                self.photo_paths.setdefault(str(photo), Path(str(where)))
        return [Unvalidated(d.observation_id, d.taxon, d.rank, d.status, d.remarks,
                            tuple(photos.get(d.observation_id, ())))
                for d in decisions if d.observation_id in known]

    @contextmanager
    def study(self, read_only: bool = False) -> Iterator[Study]:
        """The study, open for one request and closed after it (503 while another process
        holds it for longer than ``wait``)."""
        with self._lock:
            try:
                study = Study(self.root, create=False, read_only=read_only, wait=self.wait)
            except InputError as exc:
                raise HTTPException(503, exc.reason, headers={"Retry-After": "2"}) from None
            try:
                yield study
            finally:
                study.close()

    def column(self, index: Any, name: str) -> list[str]:
        """A column of the index as text, read once (the index does not change while the
        service runs; a photo request must not convert a million rows)."""
        if name not in self._columns:
            self._columns[name] = index.column(name)
        return self._columns[name]

    def observation_photos(self, index: Any) -> dict[str, list[str]]:
        """Each observation's photo ids in the index, gathered once."""
        if self._photos is None:
            found: dict[str, list[str]] = {}
            for obs, photo in zip(self.column(index, "observation_id"),
                                  self.column(index, "photo_id"), strict=True):
                found.setdefault(obs, []).append(photo)
            self._photos = found
        return self._photos


def open_desk(study: str | Path | None, reviewers: str | Path | None,
              manifest: str | Path | None = None,
              identifications: str | Path | None = None) -> ReviewDesk | None:
    """The review desk of ``-s STUDY --reviewers FILE`` (both or neither: None), with the
    queues of ``--review-manifest`` and ``--review-identifications`` (which need both)."""
    if study is None and reviewers is None:
        if manifest is not None or identifications is not None:
            raise InputError("a review queue needs the review page: -s STUDY --reviewers "
                             "FILE", field="--review-manifest" if manifest is not None
                             else "--review-identifications")
        return None
    if study is None or reviewers is None:
        raise InputError("the review page needs both a study (-s) and a reviewers file "
                         "(--reviewers)", field="--reviewers" if study else "--study")
    return ReviewDesk(study, read_reviewers(reviewers), manifest=manifest,
                      identifications=identifications)

"""What the review page needs besides the model: who may review (:class:`Reviewers`, read
from ``--reviewers FILE``) and the study their verdicts go into (:class:`ReviewDesk`).

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
from typing import Any

from fastapi import HTTPException

from fieldguide.errors import InputError
from fieldguide.store import Study

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


class ReviewDesk:
    """The study the verdicts are written into, and who may write them."""

    def __init__(self, study: str | Path, reviewers: Reviewers, wait: float = 10.0) -> None:
        self.root = Path(study)
        self.reviewers = reviewers
        self.wait = wait
        self._lock = threading.Lock()
        self._photos: dict[str, list[str]] | None = None
        self._columns: dict[str, list[str]] = {}
        with Study(self.root, create=False, read_only=True, wait=wait):
            pass  # a missing or damaged study fails at start, not at the first verdict

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


def open_desk(study: str | Path | None, reviewers: str | Path | None) -> ReviewDesk | None:
    """The review desk of ``-s STUDY --reviewers FILE`` (both or neither: None)."""
    if study is None and reviewers is None:
        return None
    if study is None or reviewers is None:
        raise InputError("the review page needs both a study (-s) and a reviewers file "
                         "(--reviewers)", field="--reviewers" if study else "--study")
    return ReviewDesk(study, read_reviewers(reviewers))

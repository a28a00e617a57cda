"""Which paths fieldguide reads and writes: regular files only, sized before they are read.

A FIFO or a character device (``/dev/zero``) given as an input blocks or never ends a read, so
it is refused from ``stat`` alone, before any byte is read. Outputs may not be folders, and the
folder they go into may not be a file: each case is one clear line instead of an OSError.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fieldguide.errors import InputError

# A generous ceiling on one input file; the exports fieldguide reads are at most a few GB.
MAX_INPUT_BYTES = 64 * 2**30

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def regular_file(
    path: str | Path, *, what: str = "file", max_bytes: int = MAX_INPUT_BYTES
) -> Path:
    """``path`` if it is a readable regular file of at most ``max_bytes``; else InputError."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=p) from None
    except PermissionError:
        raise InputError("permission denied (cannot look at this path)", path=p) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=p) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"is a folder; expected a {what}", path=p)
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise InputError(
            f"is {kind}, not a regular file; copy the data into a file first", path=p
        )
    if st.st_size > max_bytes:
        raise InputError(
            f"{st.st_size:,} bytes is over the {max_bytes:,}-byte limit for a {what}", path=p
        )
    if not os.access(p, os.R_OK):
        raise InputError("permission denied (cannot read this file)", path=p)
    return p


def nonempty_file(path: str | Path, *, what: str = "file") -> Path:
    """A regular file that has at least one byte."""
    p = regular_file(path, what=what)
    if p.stat().st_size == 0:
        raise InputError(f"{what} is empty", path=p)
    return p


def read_bytes(path: str | Path, *, what: str = "file", max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """The whole content of a checked regular file (sized first, so never an endless read)."""
    p = regular_file(path, what=what, max_bytes=max_bytes)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=p) from None


def existing_folder(path: str | Path, *, what: str = "folder") -> Path:
    """``path`` if it is a folder; a file or nothing there is refused."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} not found", path=p)
    if not p.is_dir():
        raise InputError(f"is a file; expected a {what}", path=p)
    return p


def output_file(path: str | Path, *, overwrite: bool = True) -> Path:
    """Check that ``path`` can become a file (creating its parent folders): not a folder, not
    under a file, and, when ``overwrite`` is False, not already there."""
    p = Path(path)
    if p.is_dir():
        raise InputError("is a folder; give a file name for the output", path=p)
    if not overwrite and p.exists():
        raise InputError("already exists; remove it or choose another output", path=p)
    if p.parent.is_dir():  # the usual case, one stat (the photo store writes thousands a second)
        return p
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{parent} is a file, so no output can go under it", path=p)
            break
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = f"cannot create the output's folder: {exc.strerror or exc}"
        raise InputError(reason, path=p) from None
    return p


def output_folder(path: str | Path) -> Path:
    """Check that ``path`` is, or can become, a folder (an existing file is refused)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError("is a file; expected a folder for the outputs", path=p)
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{parent} is a file, so no folder can go under it", path=p)
            break
    return p


@contextmanager
def atomic_path(path: str | Path, *, scratch: str | Path | None = None) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to; renamed onto ``path`` when the block
    ends without an exception, removed otherwise. A reader (or a run resumed after a kill)
    sees the old file or the whole new one, never half a file. The one way fieldguide
    writes a file in place::

        with atomic_path(out) as tmp, tmp.open("wb") as fh:
            np.save(fh, array)   # a handle: np.save would add ".npy" to a bare name

    ``scratch``: a folder on the same file system to hold the temporary file instead, for a
    writer that clears its own scratch folder of what a killed run left (the photo store).
    """
    p = output_file(path)
    tmp = (p.parent if scratch is None else Path(scratch)) / f".{p.name}.{os.getpid()}.tmp"
    try:
        yield tmp
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 through a temporary file and ``os.replace`` (never half a file)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` through a temporary file and ``os.replace`` (never half a file)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (the one file hash: model
    identities, kept photos, import records)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()

"""Text files are UTF-8 (a BOM is allowed). Anything else is refused with the line and byte
offset of the first bad byte, or decoded with an encoding the user names (``--encoding``), for
the real exports known to use one (old spreadsheets save latin-1/cp1252).

Guessing an encoding is never done: a latin-1 listing read as UTF-8 "with replacement" gives
paths that exist nowhere and names that match nothing, silently.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from fieldguide.errors import InputError
from fieldguide.inputs.files import MAX_INPUT_BYTES, read_bytes, regular_file

UTF8 = "utf-8"
_BLOCK = 1 << 22


def check_encoding(encoding: str) -> str:
    """The codec's canonical name, or InputError for an unknown one (field ``--encoding``)."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise InputError(
            f"unknown encoding {encoding!r} (try utf-8 or latin-1)", field="--encoding"
        ) from None


def decode(data: bytes, path: str | Path | None = None, encoding: str = UTF8) -> str:
    """``data`` as text: a leading BOM dropped; a bad byte refused with its line and offset."""
    name = check_encoding(encoding)
    try:
        text = data.decode(name)
    except UnicodeDecodeError as exc:
        raise encoding_error(data, exc.start, path, name) from None
    return text[1:] if text.startswith("\ufeff") else text


def encoding_error(
    data: bytes, offset: int, path: str | Path | None, encoding: str = UTF8
) -> InputError:
    """The error for a bad byte at offset ``offset`` of a file's content ``data``."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return _bad_byte(path, encoding, data[offset], data.count(b"\n", 0, offset) + 1,
                     offset - line_start + 1, offset)


def _bad_byte(
    path: str | Path | None, encoding: str, byte: int, line: int, column: int, offset: int
) -> InputError:
    hint = "re-save the file as UTF-8" + (
        ", or name its encoding with --encoding (e.g. latin-1) where the command has one"
        if encoding == "utf-8"
        else ""
    )
    return InputError(
        f"not {encoding} text: byte 0x{byte:02X} at byte {column} of the line "
        f"(file offset {offset}); {hint}",
        path=path,
        line=line,
    )


def first_bad_byte(path: str | Path, encoding: str = UTF8) -> InputError | None:
    """Scan a (possibly huge) file block by block; the error for its first undecodable byte,
    or None when the whole file decodes."""
    p = regular_file(path)
    name = check_encoding(encoding)
    decoder = codecs.getincrementaldecoder(name)()
    lines = 0  # newlines before the current block
    offset = 0  # file offset of the current block
    last_newline = -1  # file offset of the last newline before the current block
    with p.open("rb") as f:
        while True:
            block = f.read(_BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                # The decoder reports offsets into (bytes it held back) + this block; held-back
                # bytes are the start of a multi-byte sequence, never a newline.
                at = offset - (len(exc.object) - len(block)) + exc.start
                head = block[: max(at - offset, 0)]
                nl = head.rfind(b"\n")
                line_start = offset + nl + 1 if nl >= 0 else last_newline + 1
                bad = exc.object[exc.start]
                return _bad_byte(p, name, bad, lines + head.count(b"\n") + 1,
                                 at - line_start + 1, at)
            if not block:
                return None
            nl = block.rfind(b"\n")
            if nl >= 0:
                last_newline = offset + nl
            lines += block.count(b"\n")
            offset += len(block)


def read_text(
    path: str | Path, *, encoding: str = UTF8, what: str = "file", max_bytes: int = MAX_INPUT_BYTES
) -> str:
    """A whole text file, checked first (regular file, size) then decoded strictly."""
    p = Path(path)
    return decode(read_bytes(p, what=what, max_bytes=max_bytes), p, encoding)


def read_lines(path: str | Path, *, encoding: str = UTF8, what: str = "file") -> list[str]:
    """The lines of a text file (no line ends)."""
    return read_text(path, encoding=encoding, what=what).splitlines()


def no_nul(value: str, path: str | Path | None = None, line: int | None = None,
           field: str | None = None) -> str:
    """``value`` unless it holds a NUL byte (never a real name; it truncates C strings)."""
    if "\x00" in value:
        raise InputError("NUL byte in the text (a binary or damaged file?)", path, line, field)
    return value

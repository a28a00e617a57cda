"""The validation layer every command reads its inputs through: files (regular, sized),
text (UTF-8 or an explicit encoding, bad bytes located), tables (CSV or Parquet, one reader),
archives (names kept inside, bombs refused), JSON (shapes checked). Each refusal is an
:class:`~fieldguide.errors.InputError` naming file, line and field; see docs/reliability.md
for what each input kind accepts."""

from fieldguide.inputs.archive import LIMITS, ArchiveLimits, ZipReader, inside, safe_member_name
from fieldguide.inputs.files import (
    existing_folder,
    nonempty_file,
    output_file,
    output_folder,
    read_bytes,
    regular_file,
    write_text_atomic,
)
from fieldguide.inputs.jsonfile import (
    expect_mapping,
    expect_nested_mapping,
    expect_scalars,
    read_json,
)
from fieldguide.inputs.tables import read_columns, read_table
from fieldguide.inputs.text import (
    check_encoding,
    decode,
    first_bad_byte,
    no_nul,
    read_lines,
    read_text,
)

__all__ = [
    "LIMITS",
    "ArchiveLimits",
    "ZipReader",
    "check_encoding",
    "decode",
    "existing_folder",
    "expect_mapping",
    "expect_nested_mapping",
    "expect_scalars",
    "first_bad_byte",
    "inside",
    "no_nul",
    "nonempty_file",
    "output_file",
    "output_folder",
    "read_bytes",
    "read_columns",
    "read_json",
    "read_lines",
    "read_table",
    "read_text",
    "regular_file",
    "safe_member_name",
    "write_text_atomic",
]

"""Tables a person hands in (a curation manifest, a photo listing, an identify output, a labels
CSV): CSV or Parquet, read with pyarrow by this one reader so every command means the same by
a column.

The rules, whichever command reads the table: the file is a sized regular file; a CSV must
decode as UTF-8 (the first bad byte is named by line); an empty CSV cell is a missing value
(null), not an empty name; identifier columns are text even when they look like numbers
(``007`` stays ``007``). Anything pyarrow cannot parse is one :class:`InputError` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fieldguide.errors import InputError
from fieldguide.inputs.files import regular_file
from fieldguide.inputs.text import first_bad_byte

if TYPE_CHECKING:
    import pyarrow as pa

#: Columns that name things (photos, observations, vote tasks, files): always read as text.
ID_COLUMNS = ("photo_id", "observation_id", "task", "path")


def read_table(path: str | Path, *, what: str = "table") -> pa.Table:
    """A ``.parquet`` file, or any other name as CSV, as a pyarrow Table (see module doc)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    p = regular_file(path, what=what)
    try:
        if p.suffix.lower() == ".parquet":
            return pq.read_table(p)
        bad = first_bad_byte(p)
        if bad is not None:
            raise bad
        opts = pcsv.ConvertOptions(strings_can_be_null=True,
                                   column_types=dict.fromkeys(ID_COLUMNS, pa.string()))
        return pcsv.read_csv(p, convert_options=opts)
    except (pa.ArrowException, OSError) as exc:  # pyarrow's own errors carry the row in the text
        raise InputError(f"unreadable {what}: {exc}", path=p) from None


def read_columns(path: str | Path, *, what: str = "table") -> dict[str, list[Any]]:
    """:func:`read_table` as ``{column: values}`` (Python values; None where missing)."""
    table = read_table(path, what=what)
    return {name: table.column(name).to_pylist() for name in table.column_names}

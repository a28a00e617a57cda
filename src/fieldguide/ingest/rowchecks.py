"""Row checks every delimited ingester can add to its list: values that parse as something
but are wrong (a NUL in a name, latitude 999, a date next year, text in a number, an unknown
boolean). Each returns :class:`~fieldguide.ingest.csvfile.Check` objects over ``fg_stage``
whose SQL holds only quoted identifiers and constants, never text from the file.

Missing values. A cell holding one of :data:`MISSING_VALUES` (after trimming spaces) is
missing, exactly as an empty cell is. The list is what the tools write and read: pandas, R,
DuckDB and GBIF's downloads all take an empty cell as missing; R writes and reads ``NA``;
pandas also reads ``N/A``, ``n/a``, ``#N/A``, ``NULL`` and ``null`` (spreadsheets write
``#N/A``); database dumps write ``NULL`` or ``\\N``. None of these is ever a
real value of an optional field (a number, a date, a licence, a place), so an optional
column's missing value never costs the row, and a required one (an observation id) is
refused as missing, naming line and field. Left out on purpose: ``NaN``/``nan`` (a number
that a computation failed to give: still refused where a number is needed, as a coordinate
or accuracy that is not finite) and ``None`` (pandas alone reads it as missing, and it is a
word a trait or label may hold). The iNaturalist CSV and open-data, DwC-A, GBIF CSV and
multimedia, traits and image-folder sidecar ingesters read cells through :func:`value_sql`
(SQL) or :func:`is_missing` (Python), so this list is kept in one place.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from fieldguide.ingest.csvfile import Check
from fieldguide.store.sql import quote_ident, quote_literal

TRUE_VALUES = ("true", "t", "yes", "y", "1")
FALSE_VALUES = ("false", "f", "no", "n", "0")
# The spellings of a missing value, compared after trimming (see the module docstring).
MISSING_VALUES = ("", "NA", "N/A", "n/a", "#N/A", "NULL", "null", "\\N")
_MISSING_SQL = "(" + ", ".join(quote_literal(v) for v in MISSING_VALUES) + ")"


def is_missing(text: str | None) -> bool:
    """Whether a cell read in Python (a sidecar's) is a missing value."""
    return text is None or text.strip() in MISSING_VALUES


def value_sql(expr: str) -> str:
    """The trimmed value of SQL expression ``expr`` (a quoted column, or ``NULL`` for an
    absent one), NULL when it is a missing value: the one place missing values are read."""
    return f"CASE WHEN trim({expr}) NOT IN {_MISSING_SQL} THEN trim({expr}) END"


def cell(column: str) -> str:
    """:func:`value_sql` of the staged column named ``column`` (any name: it is quoted)."""
    return value_sql(quote_ident(column))


def _filled(column: str) -> str:
    return f"{cell(column)} IS NOT NULL"


def no_nul(columns: Sequence[str]) -> list[Check]:
    """A NUL byte in a name or label is refused (it is never meant, and C code cuts there)."""
    return [
        Check(f"strpos({quote_ident(c)}, chr(0)) > 0", c, quote_literal("NUL byte in the value"))
        for c in columns
    ]


def coordinates(latitude: str | None, longitude: str | None) -> list[Check]:
    """Latitude in [-90, 90], longitude in [-180, 180]; text in either is refused."""
    out = []
    for column, limit, what in ((latitude, 90, "latitude"), (longitude, 180, "longitude")):
        if column is None:
            continue
        q, v = quote_ident(column), cell(column)
        out.append(Check(
            f"{_filled(column)} AND (try_cast({v} AS DOUBLE) IS NULL OR "
            f"NOT isfinite(try_cast({v} AS DOUBLE)) OR abs(try_cast({v} AS DOUBLE)) > {limit:d})",
            column,
            f"{quote_literal(f'not a {what} in [-{limit}, {limit}]: ')} || {q}",
        ))
    return out


def timestamp_sql(column: str) -> str:
    """The parse of a time column that ingesters store (``observed_at``): an ISO timestamp
    (zone optional) or iNaturalist's ``2016-01-24 15:50:11 -0500``; NULL when neither or
    missing."""
    t = cell(column)
    return (f"coalesce(try_cast({t} AS TIMESTAMPTZ), "
            f"try_strptime({t}, '%Y-%m-%d %H:%M:%S %z'))")


def date_sql(column: str) -> str:
    """The parse of a date column that ingesters store: its first 10 characters as a date
    (NULL when missing)."""
    return f"try_cast(left({cell(column)}, 10) AS DATE)"


def dates(column: str, *, time_column: str | None = None) -> list[Check]:
    """A date that parses (:func:`date_sql`) and is not in the future (a day of slack for
    time zones); a time, when given, must parse as :func:`timestamp_sql` or a time of day."""
    q = quote_ident(column)
    day = date_sql(column)
    out = [
        Check(f"{_filled(column)} AND {day} IS NULL", column,
              f"{quote_literal('not a date: ')} || {q}"),
        Check(f"{day} > current_date + INTERVAL 1 DAY", column,
              f"{quote_literal('date in the future: ')} || {q}"),
    ]
    if time_column is not None:
        t = quote_ident(time_column)
        out.append(Check(
            f"{_filled(time_column)} AND {timestamp_sql(time_column)} IS NULL "
            f"AND try_cast({cell(time_column)} AS TIME) IS NULL",
            time_column, f"{quote_literal('not a time: ')} || {t}",
        ))
        out.append(Check(
            f"{timestamp_sql(time_column)} > now() + INTERVAL 1 DAY",
            time_column, f"{quote_literal('time in the future: ')} || {t}",
        ))
    return out


def numbers(columns: Sequence[str], *, minimum: float | None = 0.0) -> list[Check]:
    """Numeric fields (``positional_accuracy``) must hold a finite number (>= ``minimum``)."""
    out = []
    for c in columns:
        q, v = quote_ident(c), cell(c)
        low = "" if minimum is None else f" OR try_cast({v} AS DOUBLE) < {float(minimum)!r}"
        what = "not a number" + ("" if minimum is None else f" >= {minimum:g}") + ": "
        out.append(Check(
            f"{_filled(c)} AND (try_cast({v} AS DOUBLE) IS NULL OR "
            f"NOT isfinite(try_cast({v} AS DOUBLE)){low})",
            c, f"{quote_literal(what)} || {q}",
        ))
    return out


def booleans(columns: Sequence[str], allowed: Collection[str] = TRUE_VALUES + FALSE_VALUES
             ) -> list[Check]:
    """Boolean fields (``captive_cultivated``) must hold a known true/false spelling."""
    values = ", ".join(quote_literal(v) for v in sorted(allowed))
    return [
        Check(f"{_filled(c)} AND lower({cell(c)}) NOT IN ({values})", c,
              f"{quote_literal('not true/false: ')} || {quote_ident(c)}")
        for c in columns
    ]


def boolean_sql(column: str) -> str:
    """The stored value of a boolean field: the spellings :func:`booleans` accepts, else NULL."""
    value = f"lower({cell(column)})"
    yes = ", ".join(quote_literal(v) for v in TRUE_VALUES)
    no = ", ".join(quote_literal(v) for v in FALSE_VALUES)
    return f"CASE WHEN {value} IN ({yes}) THEN true WHEN {value} IN ({no}) THEN false END"


def unique_across(key: str, value: str, *, value_sql: str | None = None) -> Check:
    """``value`` (a photo id) may belong to one ``key`` (an observation) only. ``value_sql``:
    the expression over ``fg_stage`` that gives the value when it is derived (a photo id cut
    from a URL), a constant of the ingester; the column ``value`` is named in the report."""
    k, v = quote_ident(key), value_sql or cell(value)
    return Check(  # min <> max: two keys, without counting distinct ones
        f"nullif({v}, '') IS NOT NULL AND {v} IN (SELECT {v} FROM fg_stage "
        f"WHERE nullif({v}, '') IS NOT NULL GROUP BY {v} HAVING min(trim({k})) <> max(trim({k})))",
        value,
        f"{quote_literal('shared with another observation: ')} || {v}",
    )

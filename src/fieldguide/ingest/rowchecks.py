"""Row checks every delimited ingester can add to its list: values that parse as something
but are wrong (a NUL in a name, latitude 999, a date next year, text in a number, an unknown
boolean). Each returns :class:`~fieldguide.ingest.csvfile.Check` objects over ``fg_stage``
whose SQL holds only quoted identifiers and constants, never text from the file.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from fieldguide.ingest.csvfile import Check
from fieldguide.store.sql import quote_ident, quote_literal

TRUE_VALUES = ("true", "t", "yes", "y", "1")
FALSE_VALUES = ("false", "f", "no", "n", "0")


def _filled(column: str) -> str:
    return f"nullif(trim({quote_ident(column)}), '') IS NOT NULL"


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
        q = quote_ident(column)
        out.append(Check(
            f"{_filled(column)} AND (try_cast({q} AS DOUBLE) IS NULL OR "
            f"NOT isfinite(try_cast({q} AS DOUBLE)) OR abs(try_cast({q} AS DOUBLE)) > {limit:d})",
            column,
            f"{quote_literal(f'not a {what} in [-{limit}, {limit}]: ')} || {q}",
        ))
    return out


def dates(column: str, *, time_column: str | None = None) -> list[Check]:
    """A date that parses and is not in the future (a day of slack for time zones); a time,
    when given, must parse too."""
    q = quote_ident(column)
    day = f"try_cast(left(trim({q}), 10) AS DATE)"
    out = [
        Check(f"{_filled(column)} AND {day} IS NULL", column,
              f"{quote_literal('not a date: ')} || {q}"),
        Check(f"{day} > current_date + INTERVAL 1 DAY", column,
              f"{quote_literal('date in the future: ')} || {q}"),
    ]
    if time_column is not None:
        t = quote_ident(time_column)
        out.append(Check(
            f"{_filled(time_column)} AND try_cast(trim({t}) AS TIMESTAMPTZ) IS NULL "
            f"AND try_cast(trim({t}) AS TIME) IS NULL",
            time_column, f"{quote_literal('not a time: ')} || {t}",
        ))
    return out


def numbers(columns: Sequence[str], *, minimum: float | None = 0.0) -> list[Check]:
    """Numeric fields (``positional_accuracy``) must hold a finite number (>= ``minimum``)."""
    out = []
    for c in columns:
        q = quote_ident(c)
        low = "" if minimum is None else f" OR try_cast({q} AS DOUBLE) < {float(minimum)!r}"
        what = "not a number" + ("" if minimum is None else f" >= {minimum:g}") + ": "
        out.append(Check(
            f"{_filled(c)} AND (try_cast({q} AS DOUBLE) IS NULL OR "
            f"NOT isfinite(try_cast({q} AS DOUBLE)){low})",
            c, f"{quote_literal(what)} || {q}",
        ))
    return out


def booleans(columns: Sequence[str], allowed: Collection[str] = TRUE_VALUES + FALSE_VALUES
             ) -> list[Check]:
    """Boolean fields (``captive_cultivated``) must hold a known true/false spelling."""
    values = ", ".join(quote_literal(v) for v in sorted(allowed))
    return [
        Check(f"{_filled(c)} AND lower(trim({quote_ident(c)})) NOT IN ({values})", c,
              f"{quote_literal('not true/false: ')} || {quote_ident(c)}")
        for c in columns
    ]


def unique_across(key: str, value: str) -> Check:
    """``value`` (a photo id) may belong to one ``key`` (an observation) only."""
    k, v = quote_ident(key), quote_ident(value)
    return Check(
        f"{_filled(value)} AND trim({v}) IN (SELECT trim({v}) FROM fg_stage "
        f"WHERE {_filled(value)} GROUP BY trim({v}) HAVING count(DISTINCT trim({k})) > 1)",
        value,
        f"{quote_literal('shared with another observation: ')} || {v}",
    )

"""Editable allow and block lists per place (SpeciesNet's geofence with its fixes file): which
taxa may be answered where, corrected by hand without refitting anything.

A list is a CSV with columns ``place,taxon,list``:

- ``place``: an ISO 3166-1 country (``GB``), an ISO 3166-2 first-level region (``GB-ENG``),
  or an H3 cell (``851f0a4bfffffff``, any resolution);
- ``taxon``: a name at any rank (a class, a genus, a family...);
- ``list``: ``allow`` (the taxon occurs only in its allowed places) or ``block`` (it does
  not occur there).

A fixes file has the same columns and is applied after: each of its rows replaces the
list's rows for the same place and taxon, and ``list`` may also be ``remove`` (drop them).

At a photo's place a taxon is blocked when a ``block`` row's place contains the photo, or
when the taxon has ``allow`` rows and none contains it (judged only on the kinds of place
the photo has: a photo with coordinates but no country is judged on the H3 rows alone). A
photo with no place blocks nothing. A photo's country and region come from the listing's
``region`` or ``country`` column, its H3 cells from its coordinates.

A blocked taxon keeps its probability, but is never the answer: the walk-up passes it by
and the answer rolls up to its first allowed ancestor (provenance ``blocked:TAXON``), as
SpeciesNet rolls up a species outside its range. The list is one object the
:class:`~fieldguide.identification.Identifier` holds among its priors, like the geofence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.posterior import Context, PriorOutput
from fieldguide.inputs.tables import read_columns

KINDS = ("allow", "block")
COUNTRY = re.compile(r"^[A-Z]{2}$")
REGION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")


@dataclass(frozen=True)
class Entry:
    place: str
    taxon: str
    kind: str


def _place(text: str, path: Path, line: int) -> str:
    """A place as stored: ISO codes upper-cased, H3 cells lower-cased; anything else refused."""
    key = text.strip()
    if COUNTRY.match(key.upper()) or REGION.match(key.upper()):
        return key.upper()
    import h3

    if h3.is_valid_cell(key.lower()):
        return key.lower()
    raise InputError(f"{text!r} is not an ISO 3166 country (GB), region (GB-ENG) nor an H3 "
                     "cell", path=path, line=line, field="place")


def read_entries(path: Path, known: Iterable[str], *, fixes: bool = False
                 ) -> list[tuple[int, Entry]]:
    """The rows of a list (or, ``fixes``, of a fixes file: ``remove`` allowed, and a name
    the model does not know refused with the closest ones, since a hand-made fix with a typo
    would otherwise do nothing). Each bad row is refused with its line and field."""
    from fieldguide.identification.checklist import resolve

    cols = read_columns(path, what="place list")
    for needed in ("place", "taxon", "list"):
        if needed not in cols:
            raise InputError(f"missing column {needed!r}", path=path, field=needed)
    known = set(known)
    kinds = (*KINDS, "remove") if fixes else KINDS
    out = []
    for i, (place, taxon, kind) in enumerate(zip(cols["place"], cols["taxon"], cols["list"],
                                                 strict=True)):
        line = i + 2
        for name, value in (("place", place), ("taxon", taxon), ("list", kind)):
            if value is None or not str(value).strip():
                raise InputError("empty", path=path, line=line, field=name)
        kind = str(kind).strip().lower()
        if kind not in kinds:
            raise InputError(f"{kind!r} is not one of {', '.join(kinds)}", path=path,
                             line=line, field="list")
        try:
            name = resolve(str(taxon), known, field="taxon", path=path, line=line)
        except InputError:
            if fixes:
                raise
            continue  # a shared list names taxa this model does not know
        out.append((line, Entry(_place(str(place), path, line), name, kind)))
    return out


class PlaceLists:
    """The allow and block lists, fixes applied (see the module)."""

    name = "place-lists"

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.allow: dict[str, set[str]] = {}
        self.block: dict[str, set[str]] = {}
        for e in entries:
            (self.allow if e.kind == "allow" else self.block).setdefault(e.taxon, set()).add(
                e.place)
        self.resolutions = sorted({_resolution(e.place) for e in entries if _is_cell(e.place)})

    @classmethod
    def read(cls, path: Path, known: Iterable[str], fixes: Path | None = None) -> PlaceLists:
        known = set(known)
        rows = {(e.place, e.taxon): e for _, e in read_entries(path, known)}
        if fixes is not None:
            for _, e in read_entries(fixes, known, fixes=True):
                rows.pop((e.place, e.taxon), None)
                if e.kind != "remove":
                    rows[(e.place, e.taxon)] = e
        return cls(list(rows.values()))

    def places(self, context: Context) -> list[set[str]]:
        """Each row's places: its country, its region, its H3 cells at the lists'
        resolutions (empty when it has none)."""
        import h3

        out: list[set[str]] = []
        located = context.located
        for i, region in enumerate(context.regions()):
            keys = {region, region.split("-")[0]} - {""}
            if located[i]:
                lat, lon = float(context.latitude[i]), float(context.longitude[i])
                keys |= {h3.latlng_to_cell(lat, lon, r) for r in self.resolutions}
            out.append(keys)
        return out

    def blocked(self, context: Context) -> list[frozenset[str]]:
        """Per row, the taxa blocked at its place."""
        out: list[frozenset[str]] = []
        for keys in self.places(context):
            if not keys:
                out.append(frozenset())
                continue
            kinds = {_kind(k) for k in keys}
            names = {t for t, where in self.block.items() if where & keys}
            for t, where in self.allow.items():
                judged = {p for p in where if _kind(p) in kinds}
                if judged and not judged & keys:
                    names.add(t)
            out.append(frozenset(names))
        return out

    def apply(self, probs: np.ndarray, context: Context, classes: Sequence[str]) -> PriorOutput:
        return PriorOutput(probs, blocked=self.blocked(context))


def _is_cell(place: str) -> bool:
    return not (COUNTRY.match(place) or REGION.match(place))


def _resolution(cell: str) -> int:
    import h3

    return int(h3.get_resolution(cell))


def _kind(place: str) -> str:
    if COUNTRY.match(place):
        return "country"
    if REGION.match(place):
        return "region"
    return f"h3:{_resolution(place)}"

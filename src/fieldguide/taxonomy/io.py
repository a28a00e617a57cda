"""Readers for taxonomy files: Open Tree's interim format and iNaturalist's open-data taxa.csv.

Both are read with the standard library (csv / line splitting) so a 1.4M-row iNaturalist dump
needs no extra dependency; every refusal names the file, line and field.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fieldguide.errors import InputError
from fieldguide.taxonomy.tree import Taxonomy


@dataclass
class SynonymTable:
    """Synonymous names and the accepted taxon each resolves to (one row per name and taxon)."""

    names: list[str] = field(default_factory=list)
    taxon_ids: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    types: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, int]], type_: str = "synonym") -> SynonymTable:
        """Build from (name, accepted id) pairs, e.g. a hand-made table in a test."""
        items = list(pairs)
        return cls(
            [n for n, _ in items],
            np.asarray([t for _, t in items], dtype=np.int64),
            [type_] * len(items),
        )


def _checked(path: Path) -> Path:
    """A regular UTF-8 file (refused with the first bad byte's line and offset otherwise)."""
    from fieldguide.inputs import first_bad_byte, regular_file

    regular_file(path)
    bad = first_bad_byte(path)
    if bad is not None:
        raise bad
    return path


def _interim_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Fields of each line (line number from 1); accepts with or without the "|" separators."""
    with _checked(path).open(encoding="utf-8-sig", newline="") as fh:
        barred: bool | None = None
        for lineno, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            if barred is None:
                barred = "\t|" in line
            if barred:
                if line.endswith("\t|\t"):
                    line = line[:-3]
                elif line.endswith("\t|"):
                    line = line[:-2]
                yield lineno, line.split("\t|\t")
            else:
                yield lineno, line.split("\t")


def _read_interim_table(
    path: Path, required: tuple[str, ...], default_header: tuple[str, ...]
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if not path.is_file():
        raise InputError("file not found", path=path)
    rows = list(_interim_rows(path))
    header = list(default_header)
    if rows and rows[0][1] and rows[0][1][0] in ("uid", "name"):
        header = [h.strip() for h in rows[0][1]]
        rows = rows[1:]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"header lacks column(s) {', '.join(missing)}", path=path, line=1)
    return header, rows


def _as_int(value: str, path: Path, line: int, column: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{value!r} is not an integer id", path, line, column) from None


def read_interim(folder: str | Path) -> tuple[Taxonomy, SynonymTable]:
    """Read an Open Tree "interim taxonomy format" folder (taxonomy.tsv, synonyms.tsv).

    Optional columns (sourceinfo, uniqname, flags) are kept as ``taxonomy.columns``; ids must be
    integers (they are for NCBI, GBIF and OTT). A missing synonyms.tsv gives an empty table.
    """
    folder = Path(folder)
    tax_path = folder / "taxonomy.tsv"
    header, rows = _read_interim_table(
        tax_path, ("uid", "parent_uid", "name"), ("uid", "parent_uid", "name", "rank")
    )
    pos = {h: i for i, h in enumerate(header)}
    width = len(header)
    ids: list[int] = []
    parents: list[int] = []
    names: list[str] = []
    ranks: list[str | None] = []
    extra: dict[str, list[str]] = {h: [] for h in header if h not in ("uid", "parent_uid")}
    for lineno, fields in rows:
        if len(fields) < 3:
            raise InputError(f"{len(fields)} fields, expected {width}", tax_path, lineno)
        fields = fields + [""] * (width - len(fields))
        ids.append(_as_int(fields[pos["uid"]], tax_path, lineno, "uid"))
        par = fields[pos["parent_uid"]].strip()
        parents.append(_as_int(par, tax_path, lineno, "parent_uid") if par else -1)
        names.append(fields[pos["name"]])
        ranks.append(fields[pos["rank"]] if "rank" in pos else None)
        for h, col in extra.items():
            col.append(fields[pos[h]])
    try:
        taxonomy = Taxonomy.from_parents(ids, parents, names, ranks)
    except InputError as err:
        raise InputError(err.reason, path=tax_path, field=err.field) from None
    taxonomy.columns = extra
    return taxonomy, _read_interim_synonyms(folder / "synonyms.tsv", taxonomy)


def _read_interim_synonyms(path: Path, taxonomy: Taxonomy) -> SynonymTable:
    if not path.is_file():
        return SynonymTable()
    header, rows = _read_interim_table(path, ("name", "uid"), ("uid", "name", "type", "rank"))
    pos = {h: i for i, h in enumerate(header)}
    table = SynonymTable()
    ids: list[int] = []
    for lineno, fields in rows:
        fields = fields + [""] * (len(header) - len(fields))
        uid = _as_int(fields[pos["uid"]], path, lineno, "uid")
        if uid not in taxonomy:
            raise InputError(f"synonym resolves to unknown taxon {uid}", path, lineno, "uid")
        table.names.append(fields[pos["name"]])
        ids.append(uid)
        table.types.append(fields[pos["type"]] if "type" in pos else "synonym")
    table.taxon_ids = np.asarray(ids, dtype=np.int64)
    return table


def read_inat_taxa_csv(path: str | Path) -> Taxonomy:
    """Read iNaturalist's open-data taxa.csv (tab or comma separated; a header is required).

    Columns taxon_id, ancestry ("48460/1/2/355675"), rank, name, active; the parent is the last
    ancestry id. Ancestors named in an ancestry but absent from the file (the open-data samples
    are excerpts) are added as placeholder taxa with an empty name and no rank, linked by the
    ancestry chain, so the tree stays whole. Also reads the simpler ``id,parent_id,name,rank``
    layout. ``taxonomy.columns`` keeps "active" (and "rank_level") as text.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    with _checked(path).open(encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        reader = csv.DictReader(fh, delimiter="\t" if "\t" in first else ",")
        cols = reader.fieldnames or []
        if "parent_id" in cols and "id" in cols:
            return _read_id_parent(reader, path)
        for need in ("taxon_id", "ancestry", "name", "rank"):
            if need not in cols:
                raise InputError(f"header lacks column {need!r}", path=path, line=1)
        known: dict[int, tuple[int, str, str | None, str, str]] = {}
        placeholders: dict[int, int] = {}
        for lineno, row in enumerate(reader, start=2):
            tid = _as_int(row["taxon_id"] or "", path, lineno, "taxon_id")
            steps = (row["ancestry"] or "").split("/")
            chain = [_as_int(a, path, lineno, "ancestry") for a in steps if a]
            for up, down in zip([-1, *chain], chain, strict=False):  # Life has no ancestry
                placeholders.setdefault(down, up)
            parent = chain[-1] if chain else -1
            known[tid] = (parent, row["name"] or "", row["rank"] or None,
                          row.get("active") or "", row.get("rank_level") or "")
    extra_ids = [t for t in placeholders if t not in known]
    ids = list(known) + extra_ids
    parents = [v[0] for v in known.values()] + [placeholders[t] for t in extra_ids]
    names = [v[1] for v in known.values()] + [""] * len(extra_ids)
    ranks = [v[2] for v in known.values()] + [None] * len(extra_ids)
    try:
        taxonomy = Taxonomy.from_parents(ids, parents, names, ranks)
    except InputError as err:
        raise InputError(err.reason, path=path, field=err.field) from None
    taxonomy.columns = {
        "active": [v[3] for v in known.values()] + [""] * len(extra_ids),
        "rank_level": [v[4] for v in known.values()] + [""] * len(extra_ids),
    }
    return taxonomy


def _read_id_parent(reader: csv.DictReader[str], path: Path) -> Taxonomy:
    ids: list[int] = []
    parents: list[int] = []
    names: list[str] = []
    ranks: list[str | None] = []
    for lineno, row in enumerate(reader, start=2):
        ids.append(_as_int(row["id"] or "", path, lineno, "id"))
        par = (row["parent_id"] or "").strip()
        parents.append(_as_int(par, path, lineno, "parent_id") if par else -1)
        names.append(row.get("name") or "")
        ranks.append(row.get("rank") or None)
    try:
        return Taxonomy.from_parents(ids, parents, names, ranks)
    except InputError as err:
        raise InputError(err.reason, path=path, field=err.field) from None

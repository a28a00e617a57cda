"""Attach incoming taxon names to the study's taxa: reuse, create along the lineage, or refuse.

In ``extend`` mode (the default) a name the study does not know becomes a new taxon, placed
under its lineage when the source gives one (iNaturalist rank columns, GBIF's kingdom..genus).
In ``strict`` mode (a study whose taxonomy was loaded first) an unknown name refuses the rows
that carry it, with the closest known name as a hint.

Planning is deterministic: requests are taken most inclusive first (genus before species
before subspecies; then by name and key), and a taxon first created as another's ancestor
takes the source key of the request that names it later, so which rows a database happens to
return first never changes which taxon keeps a source's id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import duckdb
import pyarrow as pa

from fieldguide.ingest.csvfile import Check
from fieldguide.store import Study
from fieldguide.store.sql import first_row, scalar
from fieldguide.taxonomy import is_hybrid, parse_name, rank_level
from fieldguide.taxonomy.names import match_key

TaxonMode = Literal["extend", "strict"]
# "Genus", "Genus epithet" or "Genus epithet epithet" with nothing else: already canonical.
_PLAIN_NAME = re.compile(r"[A-Z][a-z]+(?:-[a-z]+)?(?: (?!x$)[a-z]+(?:-[a-z]+)?){0,2}")


@dataclass(frozen=True)
class TaxonRequest:
    """A taxon named by a source: its key in the rows, name, rank and (rank, name) lineage."""

    key: str
    name: str
    rank: str | None = None
    lineage: tuple[tuple[str, str], ...] = ()
    source_key: str | None = None


@dataclass
class TaxonPlan:
    """Which taxon each key maps to, the new taxa to write, and the keys refused (with why)."""

    key_to_id: dict[str, int] = field(default_factory=dict)
    new_taxa: list[dict[str, object]] = field(default_factory=list)
    unknown: dict[str, str] = field(default_factory=dict)


class _Known:
    """The study's taxa indexed by (source, key), and by canonical name and parent."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: str) -> None:
        self._canonical: dict[str, str] = {}
        self.by_source: dict[str, int] = {}
        self.by_name: dict[str, list[tuple[int, str | None, int | None]]] = {}
        rows = con.execute(
            "SELECT taxon_id, name, rank, parent_id, source, source_key FROM taxa"
        ).fetchall()
        for taxon_id, name, rank, parent, src, key in rows:
            if src == source and key is not None:
                self.by_source[key] = taxon_id
            self.by_name.setdefault(self.canonical(name), []).append((taxon_id, rank, parent))
        for name, taxon_id in con.execute("SELECT name, taxon_id FROM synonyms").fetchall():
            self.by_name.setdefault(self.canonical(name), []).append((taxon_id, None, None))
        row = first_row(con.execute("SELECT coalesce(max(taxon_id), 0) + 1 FROM taxa"))
        self.next_id = int(row[0]) if row else 1

    def canonical(self, name: str) -> str:
        """The name's match key, memoised (lineages repeat the same higher taxa many times):
        its canonical name, except that qualified and indeterminate names ("Carex aff.
        nigra", "Quercus sp.") keep their spelling, so they never pose as the taxon they
        mention (as in ``NameMatcher``), and so do names with quoted words (a cultivar
        "Rosa 'Peace'" is not the genus Rosa); names already in canonical form, as iNaturalist
        and GBIF's lineage columns give them, skip the parser."""
        found = self._canonical.get(name)
        if found is None:
            plain = _PLAIN_NAME.fullmatch(name) is not None or has_quoted_words(name)
            found = self._canonical[name] = name if plain else match_key(name)
        return found

    def find(self, name: str, rank: str | None, parent: int | None) -> int | None:
        hits = self.by_name.get(self.canonical(name), [])
        if not hits:
            return None
        same_rank = [h for h in hits if rank is None or h[1] is None or h[1] == rank]
        under_parent = [h for h in same_rank if h[2] == parent and (rank is None or h[1] == rank)]
        best = under_parent or same_rank
        return best[0][0] if best else None

    def add(self, name: str, rank: str | None, parent: int | None) -> int:
        taxon_id = self.next_id
        self.next_id += 1
        self.by_name.setdefault(self.canonical(name), []).append((taxon_id, rank, parent))
        return taxon_id


def plan_taxa(
    con: duckdb.DuckDBPyConnection,
    requests: Iterable[TaxonRequest],
    *,
    source: str,
    mode: TaxonMode = "extend",
) -> TaxonPlan:
    """Decide, without writing, the taxon id of every request (see module docstring)."""
    known = _Known(con, source)
    plan = TaxonPlan()
    lineage_ids: dict[tuple[str, str, int | None], int] = {}
    planned: dict[int, dict[str, object]] = {}  # new taxa by id, to give them a source key

    def new(name: str, rank: str | None, parent: int | None, key: str | None) -> int:
        taxon_id = known.add(name, rank, parent)
        row: dict[str, object] = {
            "taxon_id": taxon_id,
            "name": name.strip(),
            "rank": rank,
            "rank_level": rank_level(rank),
            "parent_id": parent,
            "is_hybrid": maybe_hybrid(name, rank) and is_hybrid(name, rank),
            "source": source,
            "source_key": key,
        }
        plan.new_taxa.append(row)
        planned[taxon_id] = row
        return taxon_id

    for req in sorted(requests, key=_plan_order):
        if req.source_key is not None and req.source_key in known.by_source:
            plan.key_to_id[req.key] = known.by_source[req.source_key]
            continue
        if mode == "strict":
            found = known.find(req.name, req.rank, None) or known.find(req.name, None, None)
            if found is None:
                plan.unknown[req.key] = _unknown_reason(req.name, known)
            else:
                plan.key_to_id[req.key] = found
            continue
        parent: int | None = None
        for rank, name in req.lineage:
            if not name:
                continue
            node = (name, rank, parent)
            if node not in lineage_ids:  # the same higher taxa recur on many requests
                found = known.find(name, rank, parent)
                lineage_ids[node] = found if found is not None else new(name, rank, parent, None)
                _give_rank(planned.get(lineage_ids[node]), rank)
            parent = lineage_ids[node]
        found = known.find(req.name, req.rank, parent)
        if found is None:
            found = new(req.name, req.rank, parent, req.source_key)
        elif found in planned and planned[found]["source_key"] is None:
            planned[found]["source_key"] = req.source_key  # made as an ancestor first
        _give_rank(planned.get(found), req.rank)
        if req.source_key is not None:
            known.by_source.setdefault(req.source_key, found)
        plan.key_to_id[req.key] = found
    return plan


def _give_rank(row: dict[str, object] | None, rank: str | None) -> None:
    """A taxon this plan made from a name of unknown rank ("Quercus") takes the rank another
    request names it with (the genus of "Quercus buckleyi")."""
    if row is not None and row["rank"] is None and rank is not None:
        row.update(rank=rank, rank_level=rank_level(rank))


_QUOTES = "\"'\u2018\u2019\u201c\u201d"


def has_quoted_words(text: str) -> bool:
    """Whether ``text`` quotes a word (``Rosa 'Peace'``, ``Bellis "perennis"``): a word that
    starts or ends with a quote mark, or holds a double one. A name parser reads such words as
    authorship and drops them; an apostrophe inside a word (``O'Brien``, ``d'Urv.``) is none."""
    for word in text.replace("_", " ").split():
        if word[:1] in _QUOTES or word[-1:] in _QUOTES or any(q in word for q in '"\u201c\u201d'):
            return True
    return False


def name_request(key: str, label: str) -> TaxonRequest:
    """A request from a bare label (a folder's name), read as a scientific name when it is
    written as one (capitalised first word; underscores as spaces, authorship ignored):

    * "Quercus buckleyi" -> species under genus Quercus; "Mentha × piperita" -> hybrid;
    * "Quercus robur subsp. robur", "Quercus robur robur" -> infraspecific, under its species;
    * "Quercus sp." / "Quercus spp." -> the genus Quercus itself (both, and "Quercus", are
      one taxon: the genus), never a species-level class of its own;
    * "Quercus cf. robur" -> Quercus robur (as ``NameMatcher`` reads "cf."); "Quercus aff.
      robur" -> kept as written, under the genus only (it says: not that species);
    * "Quercus" (one capitalised word) -> that name, rank unknown unless another label or the
      study's taxonomy places it; "daisy" (a common name or a code) -> as written, no rank.
    """
    text = " ".join(label.replace("_", " ").split())
    if not text[:1].isupper():
        return TaxonRequest(key=key, name=label.strip())
    parsed = parse_name(text)
    genus = parsed.genus
    if not parsed.linnaean or genus is None:
        return TaxonRequest(key=key, name=text)
    if parsed.indeterminate:
        return TaxonRequest(key=key, name=genus, rank="genus")
    if parsed.qualifier not in (None, "cf."):
        return TaxonRequest(key=key, name=text, lineage=(("genus", genus),))
    if not parsed.epithets:
        return TaxonRequest(key=key, name=parsed.canonical)
    if len(parsed.epithets) == 1:
        rank = "hybrid" if parsed.hybrid else "species"
        return TaxonRequest(key=key, name=parsed.canonical, rank=rank, lineage=(("genus", genus),))
    markers = {"var.": "variety", "f.": "form", "subsp.": "subspecies"}
    rank = next((markers[m] for m in parsed.markers if m in markers), "subspecies")
    species = f"{genus} {parsed.epithets[0]}"
    return TaxonRequest(
        key=key, name=parsed.canonical, rank=rank, lineage=(("genus", genus), ("species", species))
    )


def match_to_taxonomy(study: Study, requests: Sequence[TaxonRequest]) -> dict[str, int]:
    """Key -> taxon id for the requests :class:`NameMatcher` places in the study's ingested
    taxonomy (exact, canonical, synonym or fuzzy; rank-checked; homonyms left out); {} when
    no taxonomy was ingested. The rest are for ``plan_taxa``."""
    from fieldguide.store.taxa import load_taxonomy
    from fieldguide.taxonomy import NameMatcher

    if not scalar(study.con, "SELECT count(*) FROM imports WHERE kind = 'taxonomy'"):
        return {}
    taxonomy, synonyms = load_taxonomy(study)
    matcher = NameMatcher(taxonomy, synonyms)
    out = {}
    for req in requests:
        if not req.name[:1].isupper():
            continue  # a common name or a code ("daisy"): not a scientific name to match
        found = matcher.match_one(req.name, req.rank)
        if found.taxon_id is not None:
            out[req.key] = int(found.taxon_id)
    return out


def _plan_order(req: TaxonRequest) -> tuple[float, str, str]:
    """Most inclusive first; a name of unknown rank counts as a genus when it is one word."""
    level = rank_level(req.rank)
    if level is None:
        level = 20.0 if len(req.name.split()) == 1 else 10.0
    return (-level, req.name, req.key)


def write_taxa(con: duckdb.DuckDBPyConnection, plan: TaxonPlan, import_id: int) -> None:
    """Insert the plan's new taxa (call inside the import's transaction)."""
    if not plan.new_taxa:
        return
    table = pa.Table.from_pylist([{**t, "import_id": import_id} for t in plan.new_taxa])
    con.register("fg_new_taxa", table)
    try:
        con.execute("INSERT INTO taxa BY NAME SELECT * FROM fg_new_taxa")
    finally:
        con.unregister("fg_new_taxa")


def key_table(con: duckdb.DuckDBPyConnection, plan: TaxonPlan, name: str) -> None:
    """Expose the key -> taxon_id mapping as temp table ``name(key, taxon_id)`` for joins."""
    table = pa.table(
        {
            "key": pa.array(list(plan.key_to_id), pa.string()),
            "taxon_id": pa.array(list(plan.key_to_id.values()), pa.int64()),
        }
    )
    con.register(f"{name}_view", table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_view")
    finally:
        con.unregister(f"{name}_view")


def maybe_hybrid(name: str, rank: str | None) -> bool:
    """Cheap pre-test before the full hybrid check: every hybrid name or rank contains one
    of these marks."""
    lowered = name.lower()
    return (
        "×" in name
        or " x " in lowered
        or "notho" in lowered
        or lowered.startswith("x ")
        or (rank is not None and "hybrid" in rank)
    )


def _unknown_reason(name: str, known: _Known) -> str:
    from rapidfuzz import process

    hint = process.extractOne(known.canonical(name), list(known.by_name), score_cutoff=80)
    suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
    if not known.by_name:
        suffix = " (the study has no taxonomy yet: ingest one, or use --taxa extend)"
    return f"unknown taxon name {name!r}{suffix}"


def unknown_taxon_checks(
    con: duckdb.DuckDBPyConnection,
    plan: TaxonPlan,
    key_sql: str,
    field_name: str,
) -> list[Check]:
    """Row checks that refuse rows whose taxon key the plan could not resolve."""
    if not plan.unknown:
        return []
    con.execute("CREATE OR REPLACE TEMP TABLE fg_unknown (key VARCHAR, reason VARCHAR)")
    con.executemany("INSERT INTO fg_unknown VALUES (?, ?)", list(plan.unknown.items()))
    return [
        Check(
            f"{key_sql} IN (SELECT key FROM fg_unknown)",
            field_name,
            f"(SELECT reason FROM fg_unknown WHERE key = {key_sql})",
        )
    ]

"""The selection steps as SQL over the working table ``fg_ds`` (one row per candidate photo).

Each step replaces ``fg_ds`` with what it keeps and returns notes for the report; no Python
loops over rows, so the same code serves 960 photos and 25 million. The rules of
:mod:`fieldguide.curation.spec` call these from their ``apply`` with their values (not
themselves, so this module needs nothing of the spec's and the two import one way only); a
plug-in rule may use :func:`delete` and :func:`replace` the same way. Spec values reach the SQL
as bound parameters, or as numbers the rule has already checked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

import duckdb

from fieldguide.store.sql import scalar

DS = "fg_ds"


def load_candidates(con: duckdb.DuckDBPyConnection) -> None:
    """Every photo of every observation with a taxon, with only the columns the rules read
    (the manifest joins the rest back) and ``k``, the photo's rank in its observation by
    position (so capping photos per observation is a filter). An observer-less observation
    counts as its own observer, so observer-disjoint splits still hold."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {DS} AS
        SELECT p.photo_id, p.observation_id,
               row_number() OVER (PARTITION BY p.observation_id
                                  ORDER BY p.position, p.photo_id)::INTEGER AS k,
               coalesce(o.observer, 'observation:' || o.observation_id) AS observer,
               o.taxon_id, year(o.observed_on)::INTEGER AS year, o.latitude, o.longitude,
               o.quality_grade
        FROM photos p JOIN observations o USING (observation_id)
        WHERE o.taxon_id IS NOT NULL
    """)


def replace(con: duckdb.DuckDBPyConnection, select: str,
            params: list[Any] | dict[str, Any] | None = None) -> None:
    """Rewrite the working table (for steps that change values or rank rows); values from the
    spec travel as ``params``, never as SQL text."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {DS} AS {select}", params)


def delete(con: duckdb.DuckDBPyConnection, condition: str,
           params: list[Any] | None = None) -> None:
    """Drop rows in place: far cheaper than a rewrite for the steps that only filter."""
    con.execute(f"DELETE FROM {DS} WHERE {condition}", params)


def flag_for_review(con: duckdb.DuckDBPyConnection, key: str, flagged: str) -> int:
    """Mark the rows of ``fg_ds`` whose ``key`` (photo_id or observation_id) is in the table
    ``flagged(key, reason[, suggested])``: ``needs_review`` true, the reason appended to
    ``review_reason`` and, where the table suggests another taxon, ``suggested_taxon``. The
    manifest carries these columns once a rule has added them, for the review page to list
    (``fieldguide serve --review-manifest``). Returns how many rows were marked."""
    if key not in ("photo_id", "observation_id"):
        raise ValueError(f"flag_for_review keys on photo_id or observation_id, not {key!r}")
    if not re.fullmatch(r"fg_[a-z_]+", flagged):  # a temp table the calling rule registered
        raise ValueError(f"flag_for_review reads a registered fg_ table, not {flagged!r}")
    con.execute(f"ALTER TABLE {DS} ADD COLUMN IF NOT EXISTS needs_review BOOLEAN DEFAULT false")
    con.execute(f"ALTER TABLE {DS} ADD COLUMN IF NOT EXISTS review_reason VARCHAR")
    suggest = ""
    if "suggested" in {r[0] for r in con.execute(f"DESCRIBE {flagged}").fetchall()}:
        con.execute(f"ALTER TABLE {DS} ADD COLUMN IF NOT EXISTS suggested_taxon VARCHAR")
        suggest = f", suggested_taxon = coalesce(f.suggested, {DS}.suggested_taxon)"
    before = scalar(con, f"SELECT count(*) FROM {DS} WHERE needs_review")
    con.execute(f"""UPDATE {DS} SET needs_review = true,
                    review_reason = concat_ws('; ', {DS}.review_reason, f.reason){suggest}
                    FROM {flagged} f WHERE {DS}.{key} = f.{key}""")
    return int(scalar(con, f"SELECT count(*) FROM {DS} WHERE needs_review")) - int(before)


class Step(Protocol):
    """What :func:`run_step` needs of a rule (:class:`fieldguide.curation.spec.Rule`)."""

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]: ...


def run_step(con: duckdb.DuckDBPyConnection, step: Step, seed: int) -> list[str]:
    """Apply one rule (its own :meth:`~fieldguide.curation.spec.Rule.apply`); report notes."""
    return step.apply(con, seed)


def sources(con: duckdb.DuckDBPyConnection, keep: Sequence[str]) -> list[str]:
    delete(con, "observation_id NOT IN (SELECT observation_id FROM observations "
                "WHERE source IN (SELECT unnest(?::VARCHAR[])))", [list(keep)])
    return []


def licences(con: duckdb.DuckDBPyConnection, keep: Sequence[str]) -> list[str]:
    codes = [k.strip().lower() for k in keep]
    con.execute(f"""DELETE FROM {DS} WHERE photo_id NOT IN (
        SELECT p.photo_id FROM photos p JOIN observations o USING (observation_id)
        WHERE lower(trim(coalesce(p.license, o.license))) IN (SELECT unnest(?::VARCHAR[])))""",
                [codes])
    return []


def exclude_hybrids(con: duckdb.DuckDBPyConnection) -> list[str]:
    delete(con, "taxon_id IN (SELECT taxon_id FROM taxa WHERE is_hybrid)")
    return []


def photos_per_observation(con: duckdb.DuckDBPyConnection, most: int) -> list[str]:
    delete(con, "k > ?", [most])
    return []


def validated(con: duckdb.DuckDBPyConnection, method: str | None,
              quality_grade: Sequence[str]) -> list[str]:
    if method is not None:
        # a method without labels in the study was refused before any step ran
        replace(con, f"""
            SELECT d.* REPLACE (l.taxon_id AS taxon_id) FROM {DS} d
            JOIN labels l ON l.observation_id = d.observation_id
             AND l.method = ? AND l.validated AND l.taxon_id IS NOT NULL""", [method])
        return [f"taxon from the {method!r} label of each observation"]
    delete(con, "NOT coalesce(quality_grade IN (SELECT unnest(?::VARCHAR[])), false)",
           [list(quality_grade)])
    return []


def ancestor_map(con: duckdb.DuckDBPyConnection, name: str, rank: str) -> None:
    """Temp table ``name(taxon_id, target)``: each taxon in ``fg_ds`` and its nearest ancestor
    (or itself) at ``rank``; taxa with none are absent."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        WITH RECURSIVE up(taxon_id, anc, depth) AS (
            SELECT DISTINCT taxon_id, taxon_id, 0 FROM {DS}
            UNION ALL
            SELECT up.taxon_id, t.parent_id, up.depth + 1 FROM up JOIN taxa t
              ON t.taxon_id = up.anc WHERE t.parent_id IS NOT NULL AND up.depth < 64)
        SELECT up.taxon_id, arg_min(up.anc, up.depth) AS target
        FROM up JOIN taxa a ON a.taxon_id = up.anc WHERE a.rank = ?
        GROUP BY up.taxon_id
    """, [rank])


def taxonomy(con: duckdb.DuckDBPyConnection, rank: str | None, merge_names: bool) -> list[str]:
    notes = []
    con.execute("""
        CREATE OR REPLACE TEMP TABLE fg_names AS
        SELECT t.taxon_id, min(s.taxon_id) AS target FROM taxa t
        JOIN synonyms s ON s.name = t.name AND s.taxon_id <> t.taxon_id GROUP BY t.taxon_id""")
    if merge_names:
        con.execute("""
            INSERT INTO fg_names
            SELECT taxon_id, min(taxon_id) OVER (PARTITION BY name, coalesce(rank, '')) AS target
            FROM taxa WHERE taxon_id NOT IN (SELECT taxon_id FROM fg_names)
            QUALIFY target <> taxon_id""")
    moved = scalar(con, f"SELECT count(*) FROM {DS} WHERE taxon_id IN "
                        "(SELECT taxon_id FROM fg_names)")
    if moved:
        replace(con, f"SELECT d.* REPLACE (coalesce(n.target, d.taxon_id) AS taxon_id) "
                     f"FROM {DS} d LEFT JOIN fg_names n USING (taxon_id)")
    notes.append(f"{moved:,} photo(s) moved from a synonym or duplicate name to one taxon")
    if rank:
        ancestor_map(con, "fg_rankmap", rank)
        con.execute(f"""
            INSERT INTO fg_rankmap SELECT DISTINCT d.taxon_id, d.taxon_id FROM {DS} d
            JOIN taxa t USING (taxon_id) WHERE t.rank IS NULL
             AND d.taxon_id NOT IN (SELECT taxon_id FROM fg_rankmap)""")
        coarse = scalar(con, f"SELECT count(*) FROM {DS} WHERE taxon_id NOT IN "
                             "(SELECT taxon_id FROM fg_rankmap)")
        finer = scalar(con, "SELECT count(*) FROM fg_rankmap WHERE target <> taxon_id")
        if finer or coarse:
            replace(con, f"SELECT d.* REPLACE (m.target AS taxon_id) FROM {DS} d "
                         "JOIN fg_rankmap m USING (taxon_id)")
        notes.append(f"{finer:,} taxa below {rank} merged into their {rank}; "
                     f"{coarse:,} photo(s) identified only above {rank} dropped; "
                     "taxa without a rank kept as they are")
    return notes


def _taxon_counts(con: duckdb.DuckDBPyConnection, photos: int, observations: int,
                  observers: int) -> None:
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_counts AS
        SELECT taxon_id, count(*) >= ? AND count(DISTINCT observation_id) >= ?
               AND count(DISTINCT observer) >= ? AS ok
        FROM {DS} GROUP BY taxon_id""", [photos, observations, observers])


def select_taxa(con: duckdb.DuckDBPyConnection, min_photos: int, min_observations: int,
                min_observers: int, rare: str, rollup_rank: str) -> list[str]:
    thresholds = (min_photos, min_observations, min_observers)
    _taxon_counts(con, *thresholds)
    notes = []
    if rare == "rollup":
        ancestor_map(con, "fg_rollmap", rollup_rank)
        rolled = scalar(con, "SELECT count(*) FROM fg_counts JOIN fg_rollmap USING (taxon_id) "
                             "WHERE NOT ok AND target <> taxon_id")
        replace(con, f"SELECT d.* REPLACE (CASE WHEN c.ok THEN d.taxon_id ELSE "
                     f"coalesce(m.target, d.taxon_id) END AS taxon_id) FROM {DS} d "
                     "JOIN fg_counts c USING (taxon_id) LEFT JOIN fg_rollmap m USING (taxon_id)")
        notes.append(f"{rolled:,} rare taxa rolled up to their {rollup_rank}")
        _taxon_counts(con, *thresholds)
    dropped = scalar(con, "SELECT count(*) FROM fg_counts WHERE NOT ok")
    delete(con, "taxon_id IN (SELECT taxon_id FROM fg_counts WHERE NOT ok)")
    notes.append(f"{dropped:,} taxa below the thresholds dropped")
    return notes


def photos_per_taxon(con: duckdb.DuckDBPyConnection, most: int, cell_degrees: float,
                     seed: int) -> list[str]:
    """Rank the photos of taxa over the cap by (photo's rank in its observation, the
    observation's rank within its observer, its rank within its place cell and year, seeded
    hash) and keep the first ``max``; taxa under the cap are kept whole without ranking."""
    cell = max(float(cell_degrees), 1e-9)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_big AS
        SELECT taxon_id FROM {DS} GROUP BY taxon_id HAVING count(*) > ?""", [most])
    replace(con, f"""
        WITH obs AS (
            SELECT observation_id, any_value(taxon_id) AS taxon_id,
                   any_value(observer) AS observer, any_value(year) AS year,
                   any_value(floor(latitude / {cell})::BIGINT * 100000
                             + floor(longitude / {cell})::BIGINT) AS cell,
                   hash({seed}, observation_id) AS h
            FROM {DS} WHERE taxon_id IN (SELECT taxon_id FROM fg_big) GROUP BY observation_id),
        ranked AS (
            SELECT observation_id, h,
                   row_number() OVER (PARTITION BY taxon_id, observer ORDER BY h) AS r_observer,
                   row_number() OVER (PARTITION BY taxon_id, cell, year ORDER BY h) AS r_spread
            FROM obs),
        capped AS (
            SELECT d.* FROM {DS} d JOIN ranked r USING (observation_id)
            QUALIFY row_number() OVER (PARTITION BY d.taxon_id
                ORDER BY d.k, r.r_observer, r.r_spread, r.h, d.photo_id) <= $most)
        SELECT * FROM {DS} WHERE taxon_id NOT IN (SELECT taxon_id FROM fg_big)
        UNION ALL SELECT * FROM capped""", {"most": most})
    return []


def temporal(con: duckdb.DuckDBPyConnection, cutoff_year: int, later_fraction: float,
             cap_last_year: bool, per_taxon: bool, seed: int) -> list[str]:
    """Mirrors ``rules.temporal_quotas`` per taxon (or over all taxa), sampling observations."""
    last = scalar(con, f"SELECT max(year) FROM {DS}")
    if last is None:
        return ["no dated photos: nothing to de-bias"]
    group = "taxon_id" if per_taxon else "NULL::BIGINT"
    fraction = float(later_fraction)
    cap = "true" if cap_last_year else "false"
    undated = scalar(con, f"SELECT count(*) FROM {DS} WHERE year IS NULL")
    replace(con, f"""
        WITH obs AS (
            SELECT observation_id, any_value({group}) AS g, any_value(year) AS year
            FROM {DS} WHERE year IS NOT NULL GROUP BY observation_id),
        per_year AS (SELECT g, year, count(*) AS n FROM obs GROUP BY ALL),
        sampled AS (
            SELECT g, year, n, CASE WHEN year < $cutoff THEN n
                ELSE least(n, floor({fraction} * n + 0.5)) END AS q FROM per_year),
        quotas AS (
            SELECT g, year, CASE WHEN {cap} AND year = {last} AND year >= $cutoff
                   AND lag(q) OVER w IS NOT NULL THEN least(n, lag(q) OVER w) ELSE q END AS q
            FROM sampled WINDOW w AS (PARTITION BY g ORDER BY year)),
        kept AS (
            SELECT o.observation_id FROM obs o JOIN quotas
              ON o.year = quotas.year AND o.g IS NOT DISTINCT FROM quotas.g
            QUALIFY row_number() OVER (PARTITION BY o.g, o.year
                                       ORDER BY hash({seed}, o.observation_id)) <= quotas.q)
        SELECT * FROM {DS} WHERE year IS NULL OR observation_id IN (SELECT * FROM kept)""",
            {"cutoff": cutoff_year})
    return [f"latest year {last}; {undated:,} undated photo(s) kept as they are"]


def trait_labelled(con: duckdb.DuckDBPyConnection, trait: str,
                   values: Sequence[str]) -> list[str]:
    """Photo-level values over observation-level ones (``max`` over annotators, as in the
    manifest); the trait name and values are bound, never spliced into the SQL."""
    if trait == "life_stage":
        observation = ("SELECT observation_id, life_stage AS v FROM observations "
                       "WHERE ?::VARCHAR IS NOT NULL")
    else:
        observation = ("SELECT observation_id, max(value) AS v FROM traits "
                       "WHERE trait = ? AND photo_id IS NULL GROUP BY observation_id")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_trait_kept AS
        WITH p AS (SELECT photo_id, max(value) AS v FROM traits
                   WHERE trait = ? AND photo_id IS NOT NULL GROUP BY photo_id),
             o AS ({observation})
        SELECT d.photo_id FROM {DS} d LEFT JOIN p USING (photo_id)
        LEFT JOIN o USING (observation_id)
        WHERE coalesce(p.v, o.v) IS NOT NULL
          AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], coalesce(p.v, o.v)))""",
        [trait, trait, list(values), list(values)])
    before = scalar(con, f"SELECT count(*) FROM {DS}")
    delete(con, "photo_id NOT IN (SELECT photo_id FROM fg_trait_kept)")
    dropped = before - scalar(con, f"SELECT count(*) FROM {DS}")
    which = f" one of {', '.join(values)}" if values else ""
    return [f"{dropped:,} photo(s) without a {trait!r} label{which} dropped"]


def genus_subsample(con: duckdb.DuckDBPyConnection, genera: int | None, fraction: float | None,
                    rank: str, seed: int) -> list[str]:
    ancestor_map(con, "fg_genus", rank)
    total = scalar(con, "SELECT count(DISTINCT target) FROM fg_genus")
    keep = genera if genera is not None else round((fraction or 0) * total)
    orphans = scalar(con, f"SELECT count(DISTINCT taxon_id) FROM {DS} WHERE taxon_id NOT IN "
                          "(SELECT taxon_id FROM fg_genus)")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_genus_kept AS
        SELECT taxon_id FROM fg_genus WHERE target IN (
            SELECT target FROM (SELECT DISTINCT target FROM fg_genus)
            ORDER BY hash({seed}, target) LIMIT {int(keep)})""")
    delete(con, "taxon_id NOT IN (SELECT taxon_id FROM fg_genus_kept)")
    return [f"{min(keep, total):,} of {total:,} {rank} kept with all their taxa; "
            f"{orphans:,} taxa without a {rank} dropped"]

"""Train / validation / test assignment of the working table, in SQL.

The SQL mirrors the pure rules in ``rules.py`` (``inat2017_split``, ``stratified_counts``) and
is tested against them. The result is temp table ``fg_split(photo_id, split)``.
"""

from __future__ import annotations

import duckdb

from fieldguide.curation.spec import Split
from fieldguide.curation.steps import DS
from fieldguide.store.sql import scalar

SPLITS = ("train", "val", "test")


def assign_splits(con: duckdb.DuckDBPyConnection, split: Split, seed: int) -> list[str]:
    """Fill ``fg_split``; return notes for the report."""
    if split.method == "inat2017":
        _inat2017(con, split, seed)
        return []
    if split.method == "random":
        _random(con, split, seed)
        return []
    if split.method == "source":
        con.execute(f"CREATE OR REPLACE TEMP TABLE fg_split AS SELECT d.photo_id, "
                    f"p.source_split FROM {DS} d JOIN photos p USING (photo_id)")
        unsplit = scalar(con, "SELECT count(*) FROM fg_split WHERE source_split IS NULL")
        con.execute("CREATE OR REPLACE TEMP TABLE fg_split AS SELECT photo_id, "
                    "coalesce(source_split, 'train') AS split FROM fg_split")
        if split.val > 0:
            _hold_out_val(con, split.val, seed)
        return [f"{unsplit:,} photo(s) without a source split put in train"] if unsplit else []
    con.execute(f"CREATE OR REPLACE TEMP TABLE fg_split AS SELECT photo_id, 'train' AS split "
                f"FROM {DS}")
    return []


def _hold_out_val(con: duckdb.DuckDBPyConnection, val: float, seed: int) -> None:
    """Move a ``val`` share of each taxon's train observations to validation (seeded)."""
    counts = _stratified_sql("n", val, 0.0)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_split AS
        WITH obs AS (
            SELECT d.observation_id, any_value(d.taxon_id) AS taxon_id
            FROM {DS} d JOIN fg_split s USING (photo_id) WHERE s.split = 'train'
            GROUP BY d.observation_id),
        ranked AS (
            SELECT observation_id, row_number() OVER w AS r,
                   count(*) OVER (PARTITION BY taxon_id) AS n
            FROM obs WINDOW w AS (PARTITION BY taxon_id ORDER BY
                md5('{seed}:' || observation_id), observation_id)),
        held AS (SELECT observation_id FROM (SELECT observation_id, r, {counts} FROM ranked)
                 WHERE r <= n_val)
        SELECT s.photo_id, CASE WHEN s.split = 'train' AND d.observation_id IN
                                     (SELECT observation_id FROM held)
                                THEN 'val' ELSE s.split END AS split
        FROM fg_split s JOIN {DS} d USING (photo_id)""")


def _random(con: duckdb.DuckDBPyConnection, split: Split, seed: int) -> None:
    """Stratified per taxon by observation (all photos of an observation share a split)."""
    counts = _stratified_sql("n", split.val, split.test)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_split AS
        WITH obs AS (
            SELECT observation_id, any_value(taxon_id) AS taxon_id FROM {DS}
            GROUP BY observation_id),
        ranked AS (
            SELECT observation_id, row_number() OVER w AS r, count(*) OVER
                   (PARTITION BY taxon_id) AS n
            FROM obs WINDOW w AS (PARTITION BY taxon_id ORDER BY
                md5('{seed}:' || observation_id), observation_id)),
        sized AS (SELECT observation_id, r, {counts} FROM ranked)
        SELECT d.photo_id, CASE WHEN r <= n_test THEN 'test' WHEN r <= n_test + n_val
                                THEN 'val' ELSE 'train' END AS split
        FROM {DS} d JOIN sized USING (observation_id)""")


def _stratified_sql(n: str, val: float, test: float) -> str:
    """``rules.stratified_counts`` as SQL columns n_test, n_val."""
    t = f"floor({n} * {test} + 0.5)"
    v = f"floor({n} * {val} + 0.5)"
    v2 = f"CASE WHEN {n} > 0 AND {t} + {v} >= {n} THEN greatest(0, least({v}, {n} - 1 - {t})) " \
         f"ELSE {v} END"
    t2 = f"CASE WHEN {n} > 0 AND {t} + {v} >= {n} THEN least({t}, {n} - 1 - ({v2})) ELSE {t} END"
    return f"{t2} AS n_test, {v2} AS n_val"


def _inat2017(con: duckdb.DuckDBPyConnection, split: Split, seed: int) -> None:
    """Seed 003 section 3.2, per taxon over observers (see ``rules.inat2017_split``)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_observer_split AS
        WITH per AS (
            SELECT taxon_id, observer, count(DISTINCT observation_id) AS n_obs,
                   count(*) AS n_photos
            FROM {DS} GROUP BY taxon_id, observer),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY taxon_id
                          ORDER BY n_obs, md5('{seed}:' || observer)) AS r,
                      count(*) OVER (PARTITION BY taxon_id) AS n
            FROM per),
        tv AS (
            SELECT taxon_id, observer, n_photos,
                   coalesce(sum(n_photos) OVER (PARTITION BY taxon_id ORDER BY r
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS held,
                   sum(n_photos) OVER (PARTITION BY taxon_id) AS total,
                   r = max(r) OVER (PARTITION BY taxon_id) AS last
            FROM ranked WHERE r > floor({split.test_observers} * n))
        SELECT taxon_id, observer, 'test' AS split FROM ranked
        WHERE r <= floor({split.test_observers} * n)
        UNION ALL
        SELECT taxon_id, observer, CASE WHEN last OR held > {split.val_max_photos}
               OR held > {split.val_fraction} * total THEN 'train' ELSE 'val' END
        FROM tv""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_split AS
        SELECT d.photo_id, s.split FROM {DS} d JOIN fg_observer_split s USING (taxon_id, observer)
    """)

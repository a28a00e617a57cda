"""An iNaturalist-shaped synthetic study, generated in SQL straight into the study's tables.

Taxa (kingdom > family > genus > species, 1% hybrids), observations whose species and observer
are drawn log-uniformly (a Zipf-like long tail: a few taxa and observers hold most records),
years skewed to the recent past as on iNaturalist, and 1..10 photos per observation (mean 2.5).
Used by tests (small) and ``bench/curate.py`` (10M observations).
"""

from __future__ import annotations

from fieldguide.store import Study


def _u(expr: str, salt: int) -> str:
    """A uniform number in [0, 1) from a hash of ``expr`` (deterministic)."""
    return f"((hash({expr}, {salt}) % 1000003) / 1000003.0)"


def make_synthetic_study(
    study: Study,
    *,
    observations: int,
    photos_per_observation: float = 2.5,
    taxa: int,
    observers: int,
) -> None:
    """Fill an empty study (see module doc); ids are text, as from real exports."""
    genera = max(1, taxa // 5)
    families = max(1, genera // 10)
    p = 1.0 / photos_per_observation
    with study.transaction() as con:
        con.execute(f"""
            INSERT INTO taxa (taxon_id, name, rank, rank_level, parent_id, is_hybrid, source)
            SELECT k, ['Plantae', 'Animalia', 'Fungi'][k], 'kingdom', 70, NULL, false, 'synthetic'
            FROM range(1, 4) r(k)
            UNION ALL
            SELECT 10 + f, 'Family' || f || 'aceae', 'family', 30, 1 + f % 3, false, 'synthetic'
            FROM range({families}) r(f)
            UNION ALL
            SELECT 10 + {families} + g, 'Genus' || g, 'genus', 20, 10 + g % {families}, false,
                   'synthetic' FROM range({genera}) r(g)
            UNION ALL
            SELECT 10 + {families} + {genera} + s, 'Genus' || (s % {genera}) || ' species' || s,
                   'species', 10, 10 + {families} + s % {genera}, s % 100 = 99, 'synthetic'
            FROM range({taxa}) r(s)""")
        first_species = 10 + families + genera
        con.execute(f"""
            INSERT INTO observations (observation_id, source, observer, observed_on, latitude,
                                      longitude, taxon_id, quality_grade, life_stage)
            SELECT i::VARCHAR, 'synthetic',
                   'u' || (floor(exp({_u('i', 2)} * ln({observers} + 1))) - 1)::BIGINT,
                   make_date(greatest(2005, 2021 - floor(-ln(1 - {_u('i', 3)}) * 2.5))::BIGINT,
                             1 + (hash(i, 4) % 12)::BIGINT, 1 + (hash(i, 5) % 28)::BIGINT),
                   {_u('i', 6)} * 140 - 60, {_u('i', 7)} * 360 - 180,
                   {first_species} + (floor(exp({_u('i', 1)} * ln({taxa} + 1))) - 1)::BIGINT,
                   CASE WHEN hash(i, 8) % 5 = 0 THEN 'needs_id' ELSE 'research' END,
                   ['adult', 'juvenile', NULL][1 + (hash(i, 9) % 3)::BIGINT]
            FROM range({observations}) r(i)""")
        con.execute(f"""
            INSERT INTO photos (photo_id, observation_id, position, url)
            SELECT i || '-' || j, i::VARCHAR, j + 1,
                   'https://example.org/photos/' || i || '-' || j || '.jpg'
            FROM (SELECT i, least(10, 1 + floor(ln(1 - {_u('i', 10)}) / ln(1 - {p}))::BIGINT)
                      AS k FROM range({observations}) r(i)),
                 LATERAL (SELECT unnest(range(k)) AS j)""")

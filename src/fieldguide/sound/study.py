"""A study's recordings (table ``sounds``) as a listing for identification."""

from __future__ import annotations

from pathlib import Path

from fieldguide.identification.inputs import Photos, from_columns


def study_listing(root: Path) -> Photos:
    """Every recording of the study with its observation's place and date (ids in
    ``photo_id``; a recording not yet fetched has no path and becomes an error row)."""
    from fieldguide.store import Study

    with Study(root, create=False, read_only=True) as s:
        table = s.con.sql(
            "SELECT r.sound_id AS photo_id, coalesce(r.path, '') AS path, r.observation_id, "
            "o.latitude, o.longitude, CAST(o.observed_on AS DATE) AS observed_on, r.url "
            "FROM sounds r LEFT JOIN observations o USING (observation_id) "
            "ORDER BY r.observation_id, r.position, r.sound_id"
        ).to_arrow_table()
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    return from_columns(cols, root, root)

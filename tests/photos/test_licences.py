"""A dataset spec keeps only photos under the licences it names (the photo's licence, else its
observation's), so a set meant for reuse is built only from photos that allow it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldguide.curation.spec import Licences, parse_spec
from fieldguide.curation.steps import DS, load_candidates, run_step
from fieldguide.errors import InputError
from fieldguide.store import Study


def test_licences_step_keeps_only_the_named_licences(tmp_path: Path) -> None:
    spec = parse_spec({"name": "open", "step": [{"rule": "licences", "keep": ["CC0", "cc-by"]}]})
    assert spec.steps == (Licences(keep=("CC0", "cc-by")),)
    rows = [("a", "cc0", None), ("b", "CC-BY", None), ("c", "cc-by-nc", None),
            ("d", "cc-by-nc", "cc-by"), ("e", None, None), ("f", "cc-by", "all rights reserved")]
    with Study(tmp_path / "s") as study:
        with study.transaction() as con:
            for photo_id, obs_licence, photo_licence in rows:
                con.execute("INSERT INTO observations (observation_id, source, taxon_id, license)"
                            " VALUES (?, 'test', 1, ?)", [f"o-{photo_id}", obs_licence])
                con.execute("INSERT INTO photos (photo_id, observation_id, position, license) "
                            "VALUES (?, ?, 1, ?)", [photo_id, f"o-{photo_id}", photo_licence])
        load_candidates(study.con)
        assert run_step(study.con, spec.steps[0], 0) == []
        kept = sorted(r[0] for r in study.con.execute(f"SELECT photo_id FROM {DS}").fetchall())
    assert kept == ["a", "b", "d"]


def test_licences_step_refuses_a_bad_value() -> None:
    with pytest.raises(InputError):
        parse_spec({"name": "x", "step": [{"rule": "licences", "keep": 3}]})

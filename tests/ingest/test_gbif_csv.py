from __future__ import annotations

from pathlib import Path

import pytest

from fieldguide.errors import InputError
from fieldguide.ingest.gbif_csv import ingest_gbif_csv
from fieldguide.store import Study
from tests.ingest.conftest import snapshot


def test_lanternfly_gbif_csv_with_life_stages_and_multimedia(
    study: Study, shared_data: Path
) -> None:
    folder = shared_data / "observations" / "spotted_lanternfly_gbif_inat"
    report = ingest_gbif_csv(study, folder / "cleaned_occurrence_df.csv",
                             multimedia=folder / "multimedia.txt")
    assert report.rows_kept == 3854
    stages = dict(study.con.execute(
        "SELECT life_stage, count(*) FROM observations GROUP BY 1").fetchall())
    assert stages == {"adult": 2403, "nymph": 1329, "egg": 121, None: 1}
    assert study.counts()["photos"] == 4776
    with_photos = study.con.execute(
        "SELECT count(DISTINCT observation_id) FROM photos").fetchall()[0][0]
    assert with_photos == 3675
    # Photo URLs come from multimedia.txt joined on gbifID (README: the CSV's column is off).
    url = study.con.execute("SELECT url FROM photos WHERE observation_id = '3321327453' "
                            "ORDER BY position").fetchall()[0][0]
    assert "140038152" in url
    names = {r[0] for r in study.con.execute("SELECT name FROM taxa").fetchall()}
    assert "Lycorma delicatula" in names


def test_bad_occurrence_rows_name_line_and_field(study: Study, tmp_path: Path) -> None:
    bad = tmp_path / "occ.csv"
    bad.write_text("gbifID,recordedBy,lifeStage,eventDate,lat,lng,scientificName\n"
                   "1,ann,Adult,2020-07-01,40.5,-75.1,Lycorma delicatula\n"
                   "2,bob,Nymph,July 2020,40.5,-75.1,Lycorma delicatula\n"
                   "3,cid,Egg,2020-07-03,140.5,-75.1,Lycorma delicatula\n", encoding="utf-8")
    before = snapshot(study)
    with pytest.raises(InputError) as err:
        ingest_gbif_csv(study, bad)
    assert err.value.line == 3 and err.value.field == "eventDate"
    assert snapshot(study) == before
    report = ingest_gbif_csv(study, bad, max_rejects=2)
    assert report.rows_kept == 1 and str(report.rejections[1]).startswith("line 4, field 'lat'")

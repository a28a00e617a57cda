from __future__ import annotations

from pathlib import Path

import pytest

from fieldguide.errors import InputError
from fieldguide.ingest import ingest_inat_csv, ingest_taxonomy
from fieldguide.store import Study, load_taxonomy
from fieldguide.store.sql import scalar

OTT = Path("taxonomy") / "ott_asterales_gbif_ncbi"


def test_open_tree_subset_loads_with_synonyms(study: Study, shared_data: Path) -> None:
    report = ingest_taxonomy(study, shared_data / OTT / "gbif_aster", source="gbif")
    assert report.counts == {"taxa": 11221, "synonyms": 12540}
    taxonomy, synonyms = load_taxonomy(study, "gbif")
    assert len(taxonomy) == 11221 and len(synonyms) == 12540
    (root,) = taxonomy.roots().tolist()
    assert taxonomy.name(root) == "Asterales"
    (campanula,) = taxonomy.ids_by_name("Campanula rotundifolia")
    assert [taxonomy.rank(t) for t in taxonomy.ancestors(campanula)] == [
        "genus", "family", "order"]
    assert scalar(study.con, "SELECT count(*) FROM taxa WHERE is_hybrid") > 0


def test_same_source_twice_is_refused(study: Study, shared_data: Path) -> None:
    ingest_taxonomy(study, shared_data / OTT / "gbif_aster", source="gbif")
    before = study.counts()
    with pytest.raises(InputError, match="already in the study"):
        ingest_taxonomy(study, shared_data / OTT / "gbif_aster", source="gbif", force=True)
    assert study.counts() == before


def test_inaturalist_taxa_then_strict_ingest(
    study: Study, shared_data: Path, tmp_path: Path
) -> None:
    taxa = shared_data / "inat_api" / "pyinaturalist_convert_sample_data" / "taxonomy.csv"
    assert ingest_taxonomy(study, taxa, fmt="inat").counts["taxa"] == 1683
    name = scalar(study.con, "SELECT min(name) FROM taxa WHERE rank = 'species'")
    export = tmp_path / "export.csv"
    export.write_text(f"id,observed_on,user_id,scientific_name\n1,2021-06-01,5,{name}\n")
    report = ingest_inat_csv(study, export, taxa="strict")
    assert report.counts["taxa created"] == 0
    assert scalar(study.con, "SELECT t.name FROM observations o JOIN taxa t USING (taxon_id)") \
        == name

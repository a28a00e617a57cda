"""Each SQL step on a tiny study whose answer can be checked by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fieldguide.curation import build_dataset, parse_spec, select
from fieldguide.ingest import ingest_dwca, ingest_image_folder
from fieldguide.store import Study
from fieldguide.store.sql import scalar
from tests.curation.conftest import add_observations


def run(study: Study, *steps: dict[str, Any], split: str = "none") -> list[Any]:
    spec = parse_spec({"name": "t", "step": list(steps), "split": {"method": split}})
    return select(study, spec)


def kept(study: Study, column: str = "photo_id") -> list[Any]:
    rows = study.con.execute(f"SELECT DISTINCT {column} FROM fg_ds").fetchall()
    return sorted(r[0] for r in rows)


def test_validated_by_grade_and_by_aggregation_method(study: Study) -> None:
    add_observations(study, [
        {"id": "a", "taxon": 4, "observer": "x"},
        {"id": "b", "taxon": 4, "observer": "x", "grade": "needs_id"},
        {"id": "c", "taxon": 5, "observer": "y"},
    ])
    run(study, {"rule": "validated", "quality_grade": ["research"]})
    assert kept(study, "observation_id") == ["a", "c"]
    study.con.execute(
        "INSERT INTO labels VALUES ('a', 'mv', 'x', 9, 2, 1, true, now()), "
        "('b', 'mv', 'x', 5, 1, 0.5, false, now()), ('c', 'mv', 'x', 5, 3, 1, true, now())")
    records = run(study, {"rule": "validated", "method": "mv"})
    # The aggregated label's taxon replaces the observation's (a: 4 -> 9).
    assert study.con.execute("SELECT DISTINCT observation_id, taxon_id FROM fg_ds ORDER BY 1"
                             ).fetchall() == [("a", 9), ("c", 5)]
    assert records[-2].photos_in == 3 and records[-2].photos_out == 2


def test_hybrids_excluded_and_taxonomy_rolls_subspecies_to_species(study: Study) -> None:
    add_observations(study, [
        {"id": "a", "taxon": 6, "observer": "x"},  # subspecies -> Rudbeckia hirta
        {"id": "b", "taxon": 7, "observer": "x"},  # hybrid
        {"id": "c", "taxon": 3, "observer": "y"},  # genus only: above species, dropped
        {"id": "d", "taxon": 10, "observer": "y"},  # a second "Rudbeckia hirta" (another source)
    ])
    study.con.execute("INSERT INTO taxa (taxon_id, name, rank, parent_id) "
                      "VALUES (10, 'Rudbeckia hirta', 'species', NULL)")
    run(study, {"rule": "exclude_hybrids"}, {"rule": "taxonomy", "rank": "species"})
    rows = study.con.execute("SELECT DISTINCT observation_id, taxon_id FROM fg_ds ORDER BY 1")
    assert rows.fetchall() == [("a", 4), ("d", 4)]


def test_synonyms_map_to_the_accepted_taxon(study: Study) -> None:
    study.con.execute("INSERT INTO taxa (taxon_id, name, rank, parent_id) "
                      "VALUES (11, 'Rudbeckia serotina', 'species', 3)")
    study.con.execute("INSERT INTO synonyms VALUES ('Rudbeckia serotina', 4, 'synonym', 't', 0)")
    add_observations(study, [{"id": "a", "taxon": 11, "observer": "x"}])
    run(study, {"rule": "taxonomy", "rank": "species"})
    assert kept(study, "taxon_id") == [4]


def _many(taxon: int, observers: int, per_observer: int = 1, photos: int = 1,
          prefix: str = "") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{taxon}-{o}-{k}", "taxon": taxon, "observer": f"u{o}",
             "photos": photos} for o in range(observers) for k in range(per_observer)]


def test_select_taxa_thresholds_drop_or_roll_up(study: Study) -> None:
    add_observations(study, _many(4, 20) + _many(5, 19) + _many(9, 3, per_observer=10))
    run(study, {"rule": "select_taxa", "min_observations": 20, "min_observers": 20})
    assert kept(study, "taxon_id") == [4]  # 5: 19 observers; 9: 30 observations, 3 observers
    run(study, {"rule": "select_taxa", "min_photos": 20})
    assert kept(study, "taxon_id") == [4, 9]
    # Roll-up: 5 (19 photos) joins its genus, which then holds 19 < 20: dropped too.
    run(study, {"rule": "select_taxa", "min_photos": 20, "rare": "rollup"})
    assert kept(study, "taxon_id") == [4, 9]
    # At 25 both Rudbeckia species are rare: pooled, their genus holds 39 photos.
    run(study, {"rule": "select_taxa", "min_photos": 25, "rare": "rollup"})
    assert kept(study, "taxon_id") == [3, 9]
    # At 35 Helianthus annuus (30) rolls up too, and its genus still has only 30.
    run(study, {"rule": "select_taxa", "min_photos": 35, "rare": "rollup"})
    assert kept(study, "taxon_id") == [3]


def test_photos_per_observation_keeps_first_positions(study: Study) -> None:
    add_observations(study, [{"id": "a", "taxon": 4, "observer": "x", "photos": 8},
                             {"id": "b", "taxon": 4, "observer": "x", "photos": 2}])
    run(study, {"rule": "photos_per_observation", "max": 5})
    assert kept(study) == ["a-0", "a-1", "a-2", "a-3", "a-4", "b-0", "b-1"]


def test_photos_per_taxon_prefers_distinct_observations_then_observers(study: Study) -> None:
    # Observer x: 3 observations of 4 photos; observer y: 1 observation of 4 photos.
    add_observations(study, [{"id": f"x{i}", "taxon": 4, "observer": "x", "photos": 4}
                             for i in range(3)] + [{"id": "y0", "taxon": 4, "observer": "y",
                                                    "photos": 4}])
    run(study, {"rule": "photos_per_taxon", "max": 2})
    obs = kept(study, "observation_id")
    assert len(obs) == 2 and "y0" in obs  # two observers before a second observation of x
    run(study, {"rule": "photos_per_taxon", "max": 4})
    assert kept(study, "observation_id") == ["x0", "x1", "x2", "y0"]  # first photo of each
    assert kept(study) == ["x0-0", "x1-0", "x2-0", "y0-0"]
    run(study, {"rule": "photos_per_taxon", "max": 6})
    assert scalar(study.con, "SELECT count(*) FROM fg_ds WHERE photo_id LIKE '%-1'") == 2


def test_temporal_de_biasing_per_taxon(study: Study) -> None:
    years = {2015: 4, 2016: 2, 2018: 8, 2019: 10}
    rows = [{"id": f"{y}-{i}", "taxon": 4, "observer": f"u{i}", "year": y}
            for y, n in years.items() for i in range(n)]
    add_observations(study, rows)
    run(study, {"rule": "temporal", "cutoff_year": 2017, "later_fraction": 0.5})
    per_year = dict(study.con.execute(
        "SELECT year, count(*) FROM fg_ds GROUP BY year").fetchall())
    # before 2017 all; 2018 half (4); 2019 (the latest) capped at 2018's kept 4.
    assert per_year == {2015: 4, 2016: 2, 2018: 4, 2019: 4}


def test_genus_subsample_keeps_whole_genera(study: Study) -> None:
    add_observations(study, _many(4, 2) + _many(5, 2) + _many(9, 2))
    records = run(study, {"rule": "genus_subsample", "genera": 1})
    taxa = kept(study, "taxon_id")
    assert taxa in ([4, 5], [9])  # all species of the chosen genus, none of the other
    assert "1 of 2 genus kept" in records[-2].notes[0]
    run(study, {"rule": "genus_subsample", "fraction": 1.0})
    assert kept(study, "taxon_id") == [4, 5, 9]


def test_steps_run_in_the_order_written(study: Study) -> None:
    add_observations(study, [{"id": "a", "taxon": 4, "observer": "x", "photos": 3}])
    a = run(study, {"rule": "photos_per_observation", "max": 1},
            {"rule": "select_taxa", "min_photos": 2})
    assert a[-1].photos_out == 0
    b = run(study, {"rule": "select_taxa", "min_photos": 2},
            {"rule": "photos_per_observation", "max": 1})
    assert b[-1].photos_out == 1


def test_taxonomy_keeps_taxa_without_a_rank(study: Study) -> None:
    # Image-folder labels have no rank: they cannot be placed, so they stay as they are.
    study.con.execute("INSERT INTO taxa (taxon_id, name) VALUES (12, 'bluebell')")
    add_observations(study, [{"id": "a", "taxon": 12, "observer": "x"},
                             {"id": "b", "taxon": 2, "observer": "x"}])
    run(study, {"rule": "taxonomy", "rank": "species"})
    assert kept(study, "taxon_id") == [12]


def test_sources_rule_keeps_only_the_named_sources(tmp_path: Path, shared_data: Path) -> None:
    spec = parse_spec({"name": "folder-only", "step": [{"rule": "sources", "keep": ["folder"]}],
                       "split": {"method": "source"}})
    with Study(tmp_path / "s") as study:
        ingest_image_folder(study, shared_data / "images" / "oxford_flowers12")
        ingest_dwca(study, shared_data / "observations" / "gbif_dwca_amblyomma_sample")
        result = build_dataset(study, spec, tmp_path / "out")
    assert result.steps[1].photos_out == 960


def test_trait_labelled_keeps_photos_a_person_scored(study: Study) -> None:
    add_observations(study, [
        {"id": "a", "taxon": 4, "observer": "x", "photos": 2},
        {"id": "b", "taxon": 4, "observer": "x"},
        {"id": "c", "taxon": 5, "observer": "y"},
        {"id": "d", "taxon": 5, "observer": "y"},
    ])
    study.con.execute("""INSERT INTO traits (observation_id, photo_id, trait, value) VALUES
        ('a', 'a-1', 'open_flowers', '1'), ('b', NULL, 'open_flowers', 'U'),
        ('c', NULL, 'open_flowers', '0'), ('c', 'c-0', 'open_flowers', '1'),
        ('d', NULL, 'fruits', '1')""")
    records = run(study, {"rule": "trait_labelled", "trait": "open_flowers"})
    assert kept(study) == ["a-1", "b-0", "c-0"]
    assert records[1].notes == ["2 photo(s) without a 'open_flowers' label dropped"]
    run(study, {"rule": "trait_labelled", "trait": "open_flowers", "values": ["1", "0"]})
    assert kept(study) == ["a-1", "c-0"]  # b's only label is uncertain
    study.con.execute("UPDATE observations SET life_stage = 'adult' WHERE observation_id = 'd'")
    run(study, {"rule": "trait_labelled", "trait": "life_stage"})
    assert kept(study) == ["d-0"]

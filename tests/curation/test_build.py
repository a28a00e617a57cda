"""Whole builds: a real image folder, the real exports, and a synthetic iNaturalist study."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from fieldguide.cli.dataset import dataset_app
from fieldguide.curation import build_dataset, parse_spec, write_report
from fieldguide.curation.synthetic import make_synthetic_study
from fieldguide.ingest import ingest_image_folder, ingest_inat_csv
from fieldguide.ingest.gbif_csv import ingest_gbif_csv
from fieldguide.ingest.traits import IMAGEANT_PHENOLOGY, ingest_traits
from fieldguide.store import Study


def manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_oxford_flowers_random_80_20(tmp_path: Path, shared_data: Path) -> None:
    spec = parse_spec({"name": "oxford12", "seed": 1, "split": {"method": "random"}})
    with Study(tmp_path / "s") as study:
        ingest_image_folder(study, shared_data / "images" / "oxford_flowers12")
        build_dataset(study, spec, tmp_path / "out")
    rows = manifest(tmp_path / "out")
    per_class: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        per_class[r["taxon"]][r["split"]] += 1
        assert Path(r["path"]).is_file()
    assert len(per_class) == 12
    assert all(dict(c) == {"train": 64, "test": 16} for c in per_class.values())
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| train | 768 |" in report and "imbalance ratio" in report
    assert (tmp_path / "out" / "class_sizes.png").read_bytes()[:4] == b"\x89PNG"


def test_oxford_flowers_duplicates_cross_the_source_split(
    tmp_path: Path, shared_data: Path
) -> None:
    spec = parse_spec({"name": "oxford12", "step": [{"rule": "duplicates", "drop": False}],
                       "split": {"method": "source"}})
    with Study(tmp_path / "s") as study:
        ingest_image_folder(study, shared_data / "images" / "oxford_flowers12")
        result = build_dataset(study, spec, tmp_path / "out")
    notes = " ".join(result.steps[1].notes)
    # The folder holds re-encoded copies (dHash distance 0), many across train/ and test/.
    assert "1 group(s) of identical files; 61 near-duplicate pair(s)" in notes
    splits = {r["split"] for r in manifest(tmp_path / "out")}
    assert splits == {"train", "test"} and result.steps[-1].photos_out == 960


def test_real_exports_inat2017_with_phenology_and_life_stage(
    tmp_path: Path, shared_data: Path
) -> None:
    obs = shared_data / "observations"
    taylor, spotted = obs / "inat_flowering_taylor2019", obs / "spotted_lanternfly_gbif_inat"
    spec = parse_spec({
        "name": "real", "seed": 5,
        "step": [{"rule": "taxonomy", "rank": "species"},
                 {"rule": "select_taxa", "min_observations": 20, "min_observers": 20},
                 {"rule": "photos_per_observation", "max": 5}],
        "split": {"method": "inat2017"},
        "output": {"traits": ["phenology2", "phenology4", "life_stage"]},
    })
    with Study(tmp_path / "s") as study:
        for name in ("rudbeckia_hirta", "maianthemum_canadense"):
            ingest_inat_csv(study, taylor / f"inat_{name}.csv")
        for name in ("rudbeckia", "maianthemum"):
            ingest_traits(study, taylor / f"labels_imageant_{name}.csv",
                          columns=IMAGEANT_PHENOLOGY)
        ingest_gbif_csv(study, spotted / "cleaned_occurrence_df.csv",
                        multimedia=spotted / "multimedia.txt")
        result = build_dataset(study, spec, tmp_path / "out")
    assert result.steps[-1].taxa_out == 3
    con = duckdb.connect()
    m = f"read_parquet('{tmp_path / 'out' / 'manifest.parquet'}')"
    # Observer-disjoint per taxon, over thousands of real observers.
    mixed = con.execute(f"SELECT count(*) FROM (SELECT taxon_id, observer FROM {m} "
                        "GROUP BY ALL HAVING count(DISTINCT split) > 1)").fetchall()[0][0]
    assert mixed == 0
    observers = con.execute(f"SELECT count(DISTINCT observer) FROM {m}").fetchall()[0][0]
    assert observers > 7000
    per_split = dict(con.execute(f"SELECT split, count(DISTINCT taxon) FROM {m} GROUP BY 1"
                                 ).fetchall())
    assert per_split == {"train": 3, "val": 3, "test": 3}
    pheno = dict(con.execute(f"SELECT phenology2, count(*) FROM {m} WHERE taxon = "
                             "'Rudbeckia hirta' GROUP BY 1").fetchall())
    assert pheno["flowering"] == 5085 and pheno["not_flowering"] == 317
    stages = dict(con.execute(f"SELECT life_stage, count(DISTINCT observation_id) FROM {m} "
                              "WHERE taxon = 'Lycorma delicatula' GROUP BY 1").fetchall())
    assert stages["adult"] > 2000 and stages["nymph"] > 1000 and stages["egg"] > 100
    buds = con.execute(f"SELECT count(*) FROM {m} WHERE phenology4 = 'budding'").fetchall()
    assert buds[0][0] > 0


def test_synthetic_full_rule_set_and_cli_report(tmp_path: Path) -> None:
    with Study(tmp_path / "s") as study:
        make_synthetic_study(study, observations=20_000, taxa=150, observers=2_000)
    spec_text = """
name = "synthetic"
seed = 9
[[step]]
rule = "validated"
quality_grade = ["research"]
[[step]]
rule = "exclude_hybrids"
[[step]]
rule = "taxonomy"
[[step]]
rule = "select_taxa"
min_photos = 100
min_observations = 20
min_observers = 20
[[step]]
rule = "photos_per_observation"
[[step]]
rule = "temporal"
cutoff_year = 2018
later_fraction = 0.6
[[step]]
rule = "genus_subsample"
fraction = 0.8
[[step]]
rule = "photos_per_taxon"
max = 300
[[step]]
rule = "duplicates"
[split]
method = "inat2017"
[output]
traits = ["life_stage"]
"""
    (tmp_path / "spec.toml").write_text(spec_text, encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(dataset_app, ["build", str(tmp_path / "spec.toml"), "-o", str(out),
                                      "--study", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    log = json.loads((out / "steps.json").read_text(encoding="utf-8"))
    names = [s["step"] for s in log["steps"]]
    assert names[1:-1] == ["validated", "exclude_hybrids", "taxonomy", "select_taxa",
                           "photos_per_observation", "temporal", "genus_subsample",
                           "photos_per_taxon", "duplicates"]
    for before, after in zip(log["steps"][1:], log["steps"][2:], strict=False):
        assert after["photos_in"] == before["photos_out"]
    rows = manifest(out)
    per_taxon = defaultdict(int)
    for r in rows:
        per_taxon[r["taxon"]] += 1
    assert max(per_taxon.values()) <= 300
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    (out / "report.md").unlink()
    res = runner.invoke(dataset_app, ["report", str(out)])
    assert res.exit_code == 0 and (out / "report.md").is_file()
    assert "Per super-class" in (out / "report.md").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[split]\nmethod = "random"\ntrain = 0.9\n', encoding="utf-8")
    res = runner.invoke(dataset_app, ["build", str(bad), "-o", str(tmp_path / "o2"),
                                      "--study", str(tmp_path / "s")])
    assert res.exit_code == 2 and "field 'test'" in res.output
    assert not (tmp_path / "o2").exists()
    assert write_report(out)["report.md"].is_file()


def test_a_build_that_keeps_nothing_still_reports(tmp_path: Path) -> None:
    with Study(tmp_path / "s") as study:
        make_synthetic_study(study, observations=50, taxa=5, observers=5)
        spec = parse_spec({"name": "empty", "step": [{"rule": "select_taxa", "min_photos": 999}]})
        result = build_dataset(study, spec, tmp_path / "out")
    assert result.steps[-1].photos_out == 0
    assert "| select_taxa |" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


def test_source_split_with_a_validation_share_for_calibration(
    tmp_path: Path, shared_data: Path
) -> None:
    spec = parse_spec({"name": "oxford12", "seed": 3,
                       "split": {"method": "source", "val": 0.25}})
    with Study(tmp_path / "s") as study:
        ingest_image_folder(study, shared_data / "images" / "oxford_flowers12")
        build_dataset(study, spec, tmp_path / "out")
    per_class: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in manifest(tmp_path / "out"):
        per_class[r["taxon"]][r["split"]] += 1
        # The source's test photos stay test; validation only comes out of its train photos.
        assert (r["split"] == "test") == ("/test/" in r["path"])
    assert all(dict(c) == {"train": 45, "val": 15, "test": 20} for c in per_class.values())

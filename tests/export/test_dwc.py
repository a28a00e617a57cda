"""Darwin Core Archive out, read back by python-dwca-reader and by fieldguide's own ingester."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.errors import InputError
from fieldguide.export import export_identifications, export_labels
from fieldguide.export.dwca import DWC, IDENTIFICATION, MULTIMEDIA
from fieldguide.ingest import ingest_dwca, ingest_inat_csv
from fieldguide.store import Study

RANKS = ["kingdom", "phylum", "class", "order", "family", "genus", "species"]
TREE = {"Bellis perennis": ["Plantae", "Tracheophyta", "Magnoliopsida", "Asterales",
                            "Asteraceae", "Bellis", "Bellis perennis"],
        "Taraxacum officinale": ["Plantae", "Tracheophyta", "Magnoliopsida", "Asterales",
                                 "Asteraceae", "Taraxacum", "Taraxacum officinale"]}


def _inat_study(tmp_path: Path) -> Study:
    export = tmp_path / "inat.csv"
    with export.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "observed_on", "time_observed_at", "user_login", "latitude",
                    "longitude", "scientific_name", "taxon_id", "image_url", "license",
                    *[f"taxon_{r}_name" for r in RANKS]])
        for i, name in enumerate(["Bellis perennis", "Taraxacum officinale", "Bellis perennis",
                                  "Taraxacum officinale"]):
            w.writerow([100 + i, f"2024-05-0{i + 1}", f"2024-05-0{i + 1} 10:00:00 +0000",
                        f"user{i}", 51.5 + i / 10, -0.1, name, 40 + (i % 2),
                        f"https://static.inaturalist.org/photos/{900 + i}/medium.jpg",
                        "CC-BY-NC", *TREE[name]])
    study = Study(tmp_path / "study")
    ingest_inat_csv(study, export)
    return study


def _identified(tmp_path: Path) -> Path:
    """identify's per-observation output, with the lead's optional rejection columns."""
    path = tmp_path / "test.observations.csv"
    path.write_text(
        "observation_id,n_photos,taxon_1,prob_1,taxon,rank,probability,auto_validated,"
        "rejected,reject_reason,ood_score\n"
        "100,1,Bellis perennis,0.97,Bellis perennis,species,0.97,true,false,,0.1\n"
        "101,1,Taraxacum officinale,0.6,Asteraceae,family,0.95,false,false,,0.2\n"
        "102,1,Bellis perennis,0.4,,,,false,false,,0.3\n"
        "103,1,Bellis perennis,0.99,,,,false,true,out of distribution,0.99\n")
    return path


def test_archive_reads_back_with_dwca_reader_and_fieldguide(tmp_path: Path) -> None:
    from dwca.read import DwCAReader

    out = tmp_path / "identifications.zip"
    with _inat_study(tmp_path) as study:
        counts = export_identifications(_identified(tmp_path), out, study=study,
                                        identified_by="probe 1", threshold=0.9)
        source_taxa = dict(study.con.execute("SELECT name, rank FROM taxa").fetchall())
    assert counts["occurrences"] == 4 and counts["photos"] == 4
    assert counts["without a taxon"] == 2
    names = set(zipfile.ZipFile(out).namelist())
    assert {"meta.xml", "eml.xml", "occurrence.txt", "multimedia.txt"} <= names

    with DwCAReader(str(out)) as dwca:
        rows = {r.id: r for r in dwca}
        assert set(rows) == {"100", "101", "102", "103"}
        daisy = rows["100"].data
        assert daisy[DWC + "scientificName"] == "Bellis perennis"
        assert daisy[DWC + "taxonRank"] == "species"
        assert daisy[DWC + "genus"] == "Bellis" and daisy[DWC + "family"] == "Asteraceae"
        assert daisy[DWC + "kingdom"] == "Plantae"
        assert daisy[DWC + "eventDate"].startswith("2024-05-01")
        assert daisy[DWC + "identifiedBy"] == "probe 1"
        assert daisy[DWC + "identificationVerificationStatus"] == "auto-validated"
        assert "probability 0.970" in daisy[DWC + "identificationRemarks"]
        assert daisy[DWC + "associatedMedia"].endswith("/photos/900/medium.jpg")
        assert daisy["http://purl.org/dc/terms/license"] == "CC-BY-NC"
        up = rows["101"].data
        assert up[DWC + "scientificName"] == "Asteraceae" and up[DWC + "taxonRank"] == "family"
        assert "walked up to family" in up[DWC + "identificationRemarks"]
        assert up[DWC + "family"] == ""  # not its own ancestor
        none = rows["102"].data
        assert none[DWC + "scientificName"] == ""
        assert "no taxon: no rank reached the threshold 0.9" in none[DWC + "identificationRemarks"]
        rejected = rows["103"].data
        assert rejected[DWC + "identificationVerificationStatus"] == "rejected"
        assert "rejected: out of distribution" in rejected[DWC + "identificationRemarks"]
        media = rows["100"].extensions
        assert [m.rowtype for m in media] == [MULTIMEDIA]
        assert media[0].data["http://purl.org/dc/terms/references"].endswith("/photos/900")

    with Study(tmp_path / "again") as again:
        report = ingest_dwca(again, out)
        assert report.rows_kept == 4
        obs = dict(again.con.execute(
            "SELECT o.observation_id, t.name FROM observations o LEFT JOIN taxa t "
            "USING (taxon_id)").fetchall())
        assert obs == {"100": "Bellis perennis", "101": "Asteraceae", "102": None, "103": None}
        taxa = dict(again.con.execute("SELECT name, rank FROM taxa").fetchall())
        assert taxa.items() <= source_taxa.items()  # same names at the same ranks
        assert {"Bellis perennis", "Asteraceae", "Bellis", "Plantae"} <= set(taxa)
        photos = sorted(again.con.execute("SELECT observation_id, photo_id, url, license "
                                          "FROM photos").fetchall())
        assert [p[:2] for p in photos] == [(str(100 + i), str(900 + i)) for i in range(4)]
        assert all(p[3] == "CC-BY-NC" for p in photos)
        dates = again.con.execute("SELECT min(observed_on) FROM observations").fetchall()
        assert str(dates[0][0]) == "2024-05-01"


def test_labels_export_with_identification_history(tmp_path: Path) -> None:
    from dwca.read import DwCAReader

    with _inat_study(tmp_path) as study:
        with study.transaction() as con:
            con.execute("INSERT INTO identifications (observation_id, user_id, label) VALUES "
                        "('100', 'ann', 'Bellis perennis'), ('100', 'bob', 'Bellis')")
            con.execute("INSERT INTO labels VALUES ('100', 'majority', 'Bellis perennis', "
                        "NULL, 0.8, NULL, true, now()), ('101', 'majority', NULL, NULL, 0.4, "
                        "NULL, false, now())")
        out = tmp_path / "labels.zip"
        counts = export_labels("majority", out, study=study)
        with pytest.raises(InputError, match="methods: majority"):
            export_labels("nonesuch", out, study=study)
    assert counts["occurrences"] == 2 and counts["identifications"] == 4
    with DwCAReader(str(out)) as dwca:
        rows = {r.id: r for r in dwca}
        first = rows["100"].data
        assert first[DWC + "identifiedBy"] == "aggregation: majority"
        assert first[DWC + "identificationVerificationStatus"] == "validated"
        assert first[DWC + "scientificName"] == "Bellis perennis"
        assert "no taxon: the votes did not settle" in rows["101"].data[
            DWC + "identificationRemarks"]
        history = [e for e in rows["100"].extensions if e.rowtype == IDENTIFICATION]
        assert [h.data[DWC + "identifiedBy"] for h in history] == [
            "ann", "bob", "aggregation: majority"]


def test_cli_export_dwc_and_table(tmp_path: Path) -> None:
    _inat_study(tmp_path).close()
    runner = CliRunner()
    out = tmp_path / "x.zip"
    result = runner.invoke(app, ["export", "dwc", str(_identified(tmp_path)), "-o", str(out),
                                 "-s", str(tmp_path / "study"), "--threshold", "0.9"])
    assert result.exit_code == 0, result.output
    assert "occurrences 4" in result.output and out.is_file()
    result = runner.invoke(app, ["export", "dwc", "-o", str(out)])
    assert result.exit_code == 2 and "IDENTIFICATIONS or --labels" in result.output
    result = runner.invoke(app, ["export", "table", "observations", "-o",
                                 str(tmp_path / "o.parquet"), "-s", str(tmp_path / "study")])
    assert result.exit_code == 0, result.output

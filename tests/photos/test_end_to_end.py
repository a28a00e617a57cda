"""Issue #11 end to end from the command line: an iNaturalist-shaped export whose image_urls
point at a loopback server of real flower photos -> ``ingest inat`` -> ``photos fetch`` ->
``dataset build`` -> ``train`` (linear probe) -> ``identify`` -> ``export dwc``; the archive
reads back with python-dwca-reader and with ``ingest dwca`` (same occurrences, taxa, media)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.export.dwca import DWC, MULTIMEDIA
from fieldguide.store import Study
from tests.photos.server import running

pytest.importorskip("torch")

RANKS = ["kingdom", "phylum", "class", "order", "family", "genus", "species"]
#: Two of oxford_flowers12's classes under their binomials and lineage.
FLOWERS = {"sunflower": ["Plantae", "Tracheophyta", "Magnoliopsida", "Asterales", "Asteraceae",
                         "Helianthus", "Helianthus annuus"],
           "bluebell": ["Plantae", "Tracheophyta", "Liliopsida", "Asparagales", "Asparagaceae",
                        "Hyacinthoides", "Hyacinthoides non-scripta"]}
PER_CLASS = 6
DC = "http://purl.org/dc/terms/"


def test_export_to_photos_to_model_to_darwin_core(tmp_path: Path, shared_data: Path) -> None:
    from dwca.read import DwCAReader

    folder = shared_data / "images" / "oxford_flowers12" / "train"
    photos = {f"{flower}-{p.name}": p.read_bytes()
              for flower in FLOWERS for p in sorted((folder / flower).glob("*.jpg"))[:PER_CLASS]}
    runner = CliRunner()
    study = str(tmp_path / "study")

    def run(*args: str) -> str:
        done = runner.invoke(app, list(args))
        assert done.exit_code == 0, done.output
        return done.output

    with running(photos) as server:
        export = tmp_path / "inat.csv"
        with export.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "observed_on", "user_login", "latitude", "longitude",
                        "quality_grade", "scientific_name", "taxon_id", "image_url", "license",
                        *[f"taxon_{r}_name" for r in RANKS]])
            for i, name in enumerate(photos):
                lineage = FLOWERS[name.split("-")[0]]
                w.writerow([1000 + i, f"2024-05-{1 + i % 28:02d}", f"user{i}", 51.5, -0.1,
                            "research", lineage[-1], 10 + list(FLOWERS).index(name.split("-")[0]),
                            server.url("ok", name), "CC-BY", *lineage])
        run("ingest", "inat", str(export), "-s", study)
        out = run("photos", "fetch", "-s", study, "--rate", "0", "--concurrency", "4")
        assert "CC-BY" in out
        assert sum(server.served.values()) == len(photos)

    spec = tmp_path / "dataset.toml"
    spec.write_text('name = "flowers"\nseed = 0\n'
                    '[[step]]\nrule = "licences"\nkeep = ["cc-by", "cc0"]\n'
                    '[split]\nmethod = "random"\ntrain = 0.5\nval = 0.25\ntest = 0.25\n')
    run("dataset", "build", str(spec), "-o", str(tmp_path / "ds"), "-s", study)
    manifest = tmp_path / "ds" / "manifest.csv"
    train = tmp_path / "probe.toml"
    train.write_text(f'''name = "flowers-probe"
mode = "linear-probe"
seed = 0
[data]
manifest = "{manifest}"
workers = 0
[model]
backbone = "test_efficientnet"
weights = ""
image_size = 32
[probe]
max_iter = 50
[run]
progress = false
threads = 1
''')
    run("train", str(train), "-o", str(tmp_path / "run"))
    identified = tmp_path / "identified.csv"
    run("identify", str(tmp_path / "run" / "model"), str(manifest), "-o", str(identified),
        "--no-reject")
    per_obs = tmp_path / "identified.observations.csv"
    with per_obs.open(newline="") as f:
        identified_ids = {r["observation_id"] for r in csv.DictReader(f)}
    archive = tmp_path / "identifications.zip"
    run("export", "dwc", str(per_obs), "-o", str(archive), "-s", study)

    with DwCAReader(str(archive)) as reader:
        core = {r.id: r for r in reader}
        media = {e.data[DC + "identifier"] for r in reader
                 for e in r.extensions if e.rowtype == MULTIMEDIA}
    assert set(core) == identified_ids and len(media) == len(core)
    back = tmp_path / "back"
    run("ingest", "dwca", str(archive), "-s", str(back))
    with Study(back) as s:
        occurrences = s.con.execute("SELECT count(*) FROM observations").fetchone()
        names = {r[0] for r in s.con.execute(
            "SELECT t.name FROM observations o JOIN taxa t USING (taxon_id)").fetchall()}
        urls = {r[0] for r in s.con.execute("SELECT url FROM photos").fetchall()}
    assert occurrences is not None and occurrences[0] == len(core)
    exported = {r.data.get(DWC + "scientificName") for r in core.values()}
    assert names == {n for n in exported if n}
    assert urls == media

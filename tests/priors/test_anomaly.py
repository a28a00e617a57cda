"""Anomaly scores (issue #26 point 4): records of a real iNaturalist export moved to another
continent score higher than the held-out records left where they were (AUROC >= 0.9); the
records file is read checked; the ``anomalies`` curation rule flags or drops."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fieldguide.curation import build_dataset, parse_spec
from fieldguide.errors import InputError
from fieldguide.ingest import ingest_inat_csv
from fieldguide.priors import build_prior, load_prior
from fieldguide.priors.anomaly import read_anomalies, read_records
from fieldguide.store import Study
from tests.curation.conftest import add_observations

REPO = Path(__file__).resolve().parents[2]
EXPORTS = ("inat_rudbeckia_hirta.csv", "inat_maianthemum_canadense.csv")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}"
           f"{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "fieldguide.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counting half (Mann-Whitney)."""
    both = np.concatenate([positive, negative])
    order = both.argsort(kind="stable")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    for value in np.unique(both):  # average ranks over ties
        tied = both == value
        ranks[tied] = ranks[tied].mean()
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@pytest.fixture(scope="module")
def held_out(shared_data: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Path, Path, set[str]]:
    """A counts prior from the Taylor (2019) exports less a fifth of their observers; the held-
    out observers' records in one file, half of them moved 180 degrees of longitude (eastern
    North America to eastern Asia). Returns (prior, records, moved ids)."""
    folder = tmp_path_factory.mktemp("anomaly")
    rng = np.random.default_rng(26)
    rest_files: list[Path] = []
    held: list[dict[str, str]] = []
    header: list[str] = []
    for name in EXPORTS:
        with (shared_data / "observations" / "inat_flowering_taylor2019" / name).open(
                newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            rows = list(reader)
        users = sorted({r["user_id"] for r in rows})
        out_users = set(rng.choice(users, len(users) // 5, replace=False).tolist())
        rest = folder / name
        with rest.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=header)
            writer.writeheader()
            writer.writerows(r for r in rows if r["user_id"] not in out_users)
        rest_files.append(rest)
        held += [r for r in rows if r["user_id"] in out_users]
    moved = set()
    for r in held:
        if rng.random() < 0.5 and r["longitude"] and r["latitude"]:
            r["longitude"] = str(float(r["longitude"]) + 180.0 if float(r["longitude"]) < 0
                                 else float(r["longitude"]) - 180.0)
            moved.add(r["id"])
    records = folder / "held.csv"
    with records.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(held)
    with Study(folder / "study") as s:
        for path in rest_files:
            ingest_inat_csv(s, path)
        build_prior(s, folder / "prior")
    return folder / "prior", records, moved


def test_records_moved_to_another_continent_score_higher(held_out: tuple[Path, Path, set[str]]
                                                         ) -> None:
    prior, records, moved = held_out
    out = prior.parent / "anomalies.csv"
    done = cli("prior", "anomalies", str(prior), str(records), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "records scored" in done.stdout
    ids, scores = read_anomalies(out)
    assert list(scores) == sorted(scores, reverse=True)
    is_moved = np.array([i in moved for i in ids])
    assert is_moved.sum() > 500 and (~is_moved).sum() > 500
    area = auroc(scores[is_moved], scores[~is_moved])
    print(f"AUROC moved vs kept: {area:.3f} ({is_moved.sum()} moved, {(~is_moved).sum()} kept)")
    assert area >= 0.9, area
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    moved_far = [r for r in rows if r["observation_id"] in moved]
    assert np.mean([r["expected_nearby"] == "false" for r in moved_far]) > 0.9


def test_bad_records_are_one_line(held_out: tuple[Path, Path, set[str]], tmp_path: Path
                                  ) -> None:
    names = load_prior(held_out[0]).names
    path = tmp_path / "r.csv"
    path.write_text("id,taxon,latitude,longitude,observed_on\n1,Rudbeckia hirta,44.1,-72.5,"
                    "2016-06-01\n2,Rudbeckia hirta,north,-72.5,2016-06-01\n")
    with pytest.raises(InputError) as err:
        read_records(path, names)
    assert (err.value.line, err.value.field) == (3, "latitude")
    path.write_text("id,taxon,latitude,longitude,observed_on\n1,Rudbekia hirta,44.1,-72.5,"
                    "2016-06-01\n")
    with pytest.raises(InputError, match="did you mean 'Rudbeckia hirta'"):
        read_records(path, names)
    path.write_text("id,taxon,latitude,longitude,observed_on\n1,Rudbeckia hirta,44.1,-72.5,"
                    "2016-06-01\n2,Rudbeckia hirta,,,2016-06-01\n3,Rudbeckia hirta,44,-72,\n"
                    "4,Zea mays,44,-72,2016-06-01\n5,Rudbeckia hirta,44,-72,2999-01-01\n")
    got = read_records(path, names)
    assert got.observation_id == ["1"]
    assert dict(got.skipped) == {"no usable coordinates": 1, "no usable date": 1,
                                 "taxon not in the prior": 1, "date in the future": 1}
    path.write_text("id,name\n1,x\n")
    with pytest.raises(InputError, match="missing column 'taxon'"):
        read_records(path, names)
    bad = cli("prior", "anomalies", str(held_out[0]), str(path), "-o", str(tmp_path / "o.csv"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_rule_flags_or_drops_anomalous_observations(tmp_path: Path) -> None:
    scores = tmp_path / "anomalies.csv"
    scores.write_text("observation_id,taxon,latitude,longitude,observed_on,anomaly_score,"
                      "expected_nearby,geo_score\n"
                      "o1,x,1,1,2016-01-01,0.75,false,0.5\no2,x,1,1,2016-01-01,0.2,true,0.6\n")
    with Study(tmp_path / "study") as study:
        study.con.executemany(
            "INSERT INTO taxa (taxon_id, name, rank, parent_id, is_hybrid) VALUES (?,?,?,?,?)",
            [(1, "Plantae", "kingdom", None, False), (4, "Rudbeckia hirta", "species", 1, False)])
        add_observations(study, [{"id": f"o{i}", "taxon": 4, "observer": "u", "photos": 2}
                                 for i in range(4)])
        step = {"rule": "anomalies", "file": str(scores)}
        result = build_dataset(study, parse_spec({"name": "t", "step": [step],
                                                  "split": {"method": "none"}}),
                               tmp_path / "flagged")
        assert result.steps[1].notes == [
            "1 observations with anomaly_score >= 0.5: 2 photos flagged for review"]
        import pyarrow.parquet as pq

        rows = pq.read_table(tmp_path / "flagged" / "manifest.parquet").to_pylist()
        assert {r["photo_id"] for r in rows if r["needs_review"]} == {"o1-0", "o1-1"}
        assert {r["review_reason"] for r in rows if r["needs_review"]} == {"anomaly 0.75"}
        drop = {**step, "action": "drop", "min_score": 0.1}
        build_dataset(study, parse_spec({"name": "t", "step": [drop],
                                         "split": {"method": "none"}}), tmp_path / "dropped")
        kept = pq.read_table(tmp_path / "dropped" / "manifest.parquet").column("observation_id")
        assert sorted(set(kept.to_pylist())) == ["o0", "o3"]
    with pytest.raises(InputError, match="min_score"):
        parse_spec({"name": "t", "step": [{**step, "min_score": -0.5}]})
    scores.write_text("observation_id,anomaly_score\no1,2\n")
    with pytest.raises(InputError) as err:
        read_anomalies(scores)
    assert (err.value.line, err.value.field) == (2, "anomaly_score")

"""candidates(): the observations the model thinks are a taxon but that are not labelled so."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest

from fieldguide.errors import InputError
from fieldguide.search import Entries, candidates, read_reviewed, write_candidates, write_index
from tests.search.conftest import LINEAGE, MODEL, SPECIES, clustered


def _relabel(e: Entries, changes: dict[int, str]) -> Entries:
    label = list(e.label)
    for i, v in changes.items():
        label[i] = v
    return Entries(e.photo_id, e.observation_id, e.path, label, e.embeddings, e.logits)


def test_planted_relabels_come_first(tmp_path: Path) -> None:
    e = clustered(30)  # Bellis perennis: rows 0..29
    planted = {3: "Bellis", 7: "Plantae", 11: "", 15: "Taraxacum officinale"}
    ix = write_index(tmp_path / "ix", _relabel(e, planted), model=MODEL, classes=SPECIES,
                     lineage=LINEAGE)
    rows = candidates(ix, "Bellis perennis", min_score=0.5, neighbours=2)
    assert {r["photo_id"] for r in rows} == {e.photo_id[i] for i in planted}
    by_id = {r["photo_id"]: r for r in rows}
    assert by_id["p00003"]["relation"] == "coarser" and by_id["p00003"]["label_rank"] == "genus"
    assert by_id["p00007"]["relation"] == "coarser" and by_id["p00007"]["label_rank"] == \
        "kingdom"
    assert by_id["p00011"]["relation"] == "none" and by_id["p00011"]["label"] == ""
    assert by_id["p00015"]["relation"] == "different"
    assert [r["position"] for r in rows] == [1, 2, 3, 4]
    assert all(a["score"] >= b["score"] for a, b in itertools.pairwise(rows))
    r = rows[0]
    assert r["alternative"] in set(SPECIES) - {"Bellis perennis"}
    assert 0 < r["alternative_score"] < r["score"]
    near = [n.split(":")[0] for n in r["neighbours"].split(";")]
    assert len(near) == 2 and all(e.label[int(n[1:])] == "Bellis perennis" for n in near)
    # the genus: a photo labelled "Bellis" is inside it, one labelled Plantae is not
    genus = {r["photo_id"] for r in candidates(ix, "Bellis", min_score=0.5)}
    assert genus == {"p00007", "p00011", "p00015"}


def test_observations_exclusions_and_scores(tmp_path: Path) -> None:
    e = clustered(10)
    obs = list(e.observation_id)
    obs[1] = obs[0]  # two photos, one observation
    e = Entries(e.photo_id, obs, e.path, [""] * 40, e.embeddings, e.logits)
    ix = write_index(tmp_path / "ix", e, model=MODEL, classes=SPECIES, lineage=LINEAGE)
    rows = candidates(ix, "Bellis perennis", min_score=0.5)
    assert len(rows) == 9 and rows[[r["observation_id"] for r in rows].index("o00000")][
        "photos"] == 2
    out = write_candidates(rows, tmp_path / "review.csv")
    reviewed = read_reviewed(out)
    assert candidates(ix, "Bellis perennis", exclude_reviewed=reviewed) == []
    (tmp_path / "ids.txt").write_text("p00001\no00002\n")
    left = candidates(ix, "Bellis perennis", exclude_reviewed=read_reviewed(tmp_path / "ids.txt"))
    assert {r["observation_id"] for r in left} == {f"o{i:05d}" for i in range(3, 10)}
    assert candidates(ix, "Bellis perennis", min_score=1.0) == []
    assert len(candidates(ix, "Plantae", min_score=0.0, limit=5)) == 5
    with open(out, newline="") as fh:
        assert next(csv.DictReader(fh))["position"] == "1"


def test_bad_requests(tmp_path: Path) -> None:
    ix = write_index(tmp_path / "ix", clustered(3), model=MODEL, classes=SPECIES,
                     lineage=LINEAGE)
    with pytest.raises(InputError, match="unknown taxon 'Taraxacum vulgare'"):
        candidates(ix, "Taraxacum vulgare")
    with pytest.raises(InputError, match="min_score"):
        candidates(ix, "Bellis", min_score=2.0)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="observation_id or photo_id"):
        read_reviewed(tmp_path / "bad.csv")
    assert np.isfinite(ix.logits).all()

"""Issue #9's walk-up check, end to end from the command line: a folder of photos named by
binomials (``Genus species/observation/photo.jpg``) -> ``ingest images`` -> ``dataset build``
-> ``train`` (linear probe) -> ``identify``. The model card must carry each class's genus and
species (never the text "None"), and every decision above species must name a real genus, so
the risk-coverage table's "decided (any rank)" precision is measured against each label's own
lineage."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.identification.decision import Rule, class_tree
from fieldguide.identification.risk import risk_coverage
from fieldguide.models.card import read_card

pytest.importorskip("torch")

#: Two genera of two look-alike species each: the colour tells the genus apart easily and the
#: species only roughly, so a strict threshold walks up to the genus.
SPECIES = {"Bellis perennis": (235, 235, 240), "Bellis annua": (215, 215, 235),
           "Taraxacum officinale": (240, 210, 20), "Taraxacum erythrospermum": (235, 190, 30)}


def _folder(root: Path, observations: int = 6, photos: int = 2) -> Path:
    rng = np.random.default_rng(3)
    for name, colour in SPECIES.items():
        for o in range(observations):
            for p in range(photos):
                arr = np.clip(rng.normal(colour, 25, (40, 48, 3)), 0, 255).astype(np.uint8)
                path = root / name / f"obs{o}" / f"{p}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(path, quality=92)
    return root


def _toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_binomial_folder_probe_decides_real_genera(tmp_path: Path) -> None:
    runner = CliRunner()
    study = str(tmp_path / "study")

    def run(*args: str) -> str:
        done = runner.invoke(app, list(args))
        assert done.exit_code == 0, done.output
        return done.output

    run("ingest", "images", str(_folder(tmp_path / "photos")), "-s", study)
    spec = _toml(tmp_path / "dataset.toml", 'name = "binomials"\nseed = 0\n'
                 '[[step]]\nrule = "sources"\nkeep = ["folder"]\n'
                 '[split]\nmethod = "random"\ntrain = 0.5\nval = 0.25\ntest = 0.25\n')
    run("dataset", "build", str(spec), "-o", str(tmp_path / "ds"), "-s", study)
    manifest = tmp_path / "ds" / "manifest.csv"
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    by_obs: dict[str, set[str]] = {}
    for r in rows:
        by_obs.setdefault(r["observation_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_obs.values()), "a split cut an observation"
    assert {r["genus"] for r in rows} == {"Bellis", "Taraxacum"}

    train = _toml(tmp_path / "probe.toml", f'''name = "binomial-probe"
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
    model = tmp_path / "run" / "model"
    text = (model / "model.json").read_text()
    assert "None" not in text and "null" not in json.dumps(json.loads(text)["lineage"])
    card = read_card(model)
    assert set(card.classes) == set(SPECIES)
    for name in card.classes:
        assert card.lineage[name]["genus"] == name.split()[0], card.lineage[name]
        assert card.lineage[name]["species"] == name

    out = tmp_path / "identified.csv"
    run("identify", str(model), str(manifest), "--split", "test", "-o", str(out),
        "--threshold", "0.97", "--coarsest", "family", "--no-reject")
    with out.open(newline="") as f:
        decided = list(csv.DictReader(f))
    assert decided
    genera = {"Bellis", "Taraxacum"}
    for r in decided:
        assert r["taxon"] != "None"
        if r["rank"] == "genus":
            assert r["taxon"] in genera
        assert r["rank"] in ("", "species", "genus"), r  # no family in the lineage: never there

    # risk-coverage against the labels' own lineage: a genus decision is right only when it is
    # the label's genus, and nothing is "decided" at a rank no class has a taxon for
    tree = class_tree(card.classes, card.lineage)
    assert tree.names["family"] == () and tree.names["genus"] == ("Bellis", "Taraxacum")
    probs = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5], [0.25] * 4])
    y = np.array([card.classes.index("Bellis perennis"), card.classes.index("Bellis annua"),
                  card.classes.index("Bellis annua")])
    order = [card.classes.index(n) for n in SPECIES]  # columns above are in SPECIES order
    rows_ = risk_coverage(probs[:, np.argsort(order)], y, tree,
                          Rule(0.9, "species", "family", "species"), [0.9])
    assert rows_[0].decided == pytest.approx(2 / 3)  # the uniform row is decided nowhere
    assert rows_[0].decided_precision == pytest.approx(0.5)  # Taraxacum for a Bellis is wrong

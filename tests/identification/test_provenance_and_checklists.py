"""Provenance (issue #26, point 2) and restriction to a checklist or a clade (point 3):
the vocabulary built from the decision arrays, ``identify --taxa`` / ``--within`` end to end
on the tiny colour model, and their refusals."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from tests.identification.conftest import CLASSES, TAXONOMY, write_photos
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.identification import Context, Geofence, Subtree, class_tree, posterior
from fieldguide.identification.decision import Rule
from fieldguide.identification.provenance import provenance

TREE = class_tree(CLASSES, TAXONOMY)


def _logits(*rows: list[float]) -> np.ndarray:
    return np.log(np.array(rows, dtype=np.float64))


def test_provenance_names_what_decided_each_row() -> None:
    logits = _logits([0.96, 0.02, 0.02], [0.5, 0.45, 0.05], [0.4, 0.3, 0.3],
                     [0.03, 0.02, 0.95], [0.96, 0.02, 0.02])
    logits[4] = np.nan  # a photo that failed
    # a geofence with only red recorded near (0, 0): it acts on row 3 only, the one located
    fence = Geofence(["red"], np.array([0.0]), np.array([0.0]))
    context = Context.of([np.nan, np.nan, np.nan, 0.0, np.nan],
                         [np.nan, np.nan, np.nan, 0.0, np.nan], [np.nan] * 5)
    post = posterior(logits, TREE, classes=CLASSES, priors=[fence], context=context,
                     rule=Rule(threshold=0.9, coarsest="genus"))
    ok = np.isfinite(logits).all(axis=1)
    rejected = np.array([False, False, True, False, False])
    got = provenance(post.decisions, TREE, ok, post.changed_by, rejected,
                     ["", "", "unknown taxon", "", ""])
    assert got == ["vision", "vision+rolled_up:genus", "vision+undecided+rejected:ood",
                   "vision+prior:geofence", None]
    quality = provenance(post.decisions, TREE, ok, None, rejected,
                         ["", "", "not usable: too small", "", ""])
    assert quality[2] == "vision+undecided+rejected:quality"


def test_a_restriction_renormalises_and_reports_the_mass_outside() -> None:
    logits = _logits([0.6, 0.3, 0.1], [0.1, 0.1, 0.8])
    keep = np.array([True, True, False])
    post = posterior(logits, TREE, classes=CLASSES, priors=[Subtree(keep, "within:Cool")],
                     rule=Rule(threshold=0.6))
    np.testing.assert_allclose(post.probs.sum(axis=1), 1.0)
    assert post.probs[:, 2].max() == 0.0
    assert post.mass_outside is not None
    np.testing.assert_allclose(post.mass_outside, [0.1, 0.8])
    assert provenance(post.decisions, TREE, np.ones(2, bool), post.changed_by)[0] == \
        "vision+restricted:within:Cool"


def _listing(tmp_path: Path, n: int = 30) -> Path:
    rows = write_photos(tmp_path / "img", n)
    lines = ["photo_id,path,observation_id,label"] + [
        f"p{i},{p},o{i // 2},{lab}" for i, (p, lab) in enumerate(rows)]
    (tmp_path / "photos.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "photos.csv"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _allowed(names: set[str]) -> set[str]:
    """The names a restriction to ``names`` may show: them, what lies below, what is above."""
    out = set(names)
    for c, lineage in TAXONOMY.items():
        chain = {c, *lineage.values()}
        if chain & names:
            out |= chain
    return out


def test_identify_taxa_never_shows_a_taxon_outside_the_checklist(tmp_path: Path,
                                                                 tiny_model: Path) -> None:
    """Acceptance: with --taxa, no row (photo or observation) names a class outside the
    checklist, in the decision or in the top-k; names the model lacks are skipped, case is
    ignored; the mass outside is reported and green photos have most of it."""
    source = _listing(tmp_path)
    checklist = tmp_path / "checklist.txt"
    checklist.write_text("# a regional list\nRED\nblue\nQuercus robur\n\n")
    out = tmp_path / "o.csv"
    res = CliRunner().invoke(app, ["identify", str(tiny_model), str(source), "-o", str(out),
                                   "--taxa", str(checklist), "--threshold", "0.5"])
    assert res.exit_code == 0, res.output
    allowed = _allowed({"red", "blue"})
    for table in (out, tmp_path / "o.observations.csv"):
        rows = _rows(table)
        assert rows
        for r in rows:
            shown = {r["taxon"], *(r[f"taxon_{k}"] for k in (1, 2, 3))} - {""}
            assert shown <= allowed, r
            assert "restricted:checklist" in r["provenance"]
            assert 0.0 <= float(r["mass_outside"]) <= 1.0
    photos = _rows(out)
    green = [float(r["mass_outside"]) for r in photos if r["label"] == "green"]
    red = [float(r["mass_outside"]) for r in photos if r["label"] == "red"]
    assert min(green) > max(red)


def test_identify_within_a_clade(tmp_path: Path, tiny_model: Path) -> None:
    source = _listing(tmp_path, 12)
    out = tmp_path / "o.csv"
    res = CliRunner().invoke(app, ["identify", str(tiny_model), str(source), "-o", str(out),
                                   "--within", "cool"])
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    assert {r["taxon_1"] for r in rows} <= {"blue", "green"}
    assert all(r["provenance"].startswith("vision+restricted:within:Cool") for r in rows)


@pytest.mark.parametrize(("args", "message"), [
    (["--within", "Cooll"], "field '--within': unknown taxon 'Cooll'"),
    (["--taxa", "LIST:Quercus robur\nPinus\n"], "line 1, field 'checklist': no name"),
    (["--taxa", "LIST:# nothing\n"], "the checklist names no taxon"),
    (["--threshold", "1.5"], "--threshold"),
])
def test_bad_restrictions_are_refused_in_one_line(tmp_path: Path, tiny_model: Path,
                                                  args: list[str], message: str) -> None:
    source = _listing(tmp_path, 3)
    if args[1].startswith("LIST:"):
        (tmp_path / "list.txt").write_text(args[1][5:])
        args = [args[0], str(tmp_path / "list.txt")]
    res = CliRunner().invoke(app, ["identify", str(tiny_model), str(source), "-o",
                                   str(tmp_path / "o.csv"), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output, res.output
    if "Cooll" in message:
        assert "did you mean 'Cool'" in res.output
        assert len(res.output.strip().splitlines()) == 1

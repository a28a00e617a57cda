"""Allow and block lists per place with a fixes file (issue #26, point 3): a blocked taxon
rolls up to its first allowed ancestor; countries, regions and H3 cells; bad rows refused
with file, line and field; ``identify --place-lists`` end to end."""

from __future__ import annotations

import csv
from pathlib import Path

import h3
import numpy as np
import pytest
from tests.identification.conftest import CLASSES, TAXONOMY, write_photos
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.errors import InputError
from fieldguide.identification import Context, class_tree, posterior
from fieldguide.identification.checklist import known_names
from fieldguide.identification.decision import Rule
from fieldguide.identification.place_lists import PlaceLists
from fieldguide.identification.provenance import provenance

TREE = class_tree(CLASSES, TAXONOMY)
KNOWN = known_names(CLASSES, TAXONOMY)
LONDON = (51.5, -0.1)
CELL = h3.latlng_to_cell(*LONDON, 5)


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("place,taxon,list\n" + "\n".join(rows) + "\n")
    return path


def _context(regions: list[str], places: list[tuple[float, float] | None]) -> Context:
    lat = [p[0] if p else np.nan for p in places]
    lon = [p[1] if p else np.nan for p in places]
    base = Context.of(lat, lon, [np.nan] * len(places))
    return Context(base.latitude, base.longitude, base.day_of_year,
                   np.array(regions, dtype=object))


def test_a_blocked_species_rolls_up_to_its_first_allowed_ancestor(tmp_path: Path) -> None:
    lists = PlaceLists.read(_csv(tmp_path / "l.csv", ["GB,red,block", "FR,Cool,block"]),
                            KNOWN)
    logits = np.log(np.array([[0.02, 0.02, 0.96], [0.02, 0.02, 0.96], [0.92, 0.04, 0.04]]))
    ctx = _context(["GB-ENG", "", "FR"], [None, None, None])
    post = posterior(logits, TREE, classes=CLASSES, priors=[lists], context=ctx,
                     rule=Rule(threshold=0.9, coarsest="family"))
    d = post.decisions
    assert d.taxon == ["Warm", "red", "Colour"]  # blocking a genus blocks its species too
    np.testing.assert_allclose(d.probability, [0.96, 0.96, 1.0])
    np.testing.assert_allclose(post.probs, np.exp(logits))  # probabilities are kept
    got = provenance(d, TREE, np.ones(3, bool), post.changed_by)
    assert got == ["vision+prior:place-lists+blocked:red+rolled_up:genus", "vision",
                   "vision+prior:place-lists+blocked:blue+rolled_up:family"]


def test_allow_lists_regions_cells_and_fixes(tmp_path: Path) -> None:
    base = _csv(tmp_path / "l.csv", ["AU,red,allow", "GB-SCT,green,block",
                                     f"{CELL},blue,block", "GB,Quercus robur,block"])
    lists = PlaceLists.read(base, KNOWN)
    ctx = _context(["GB-ENG", "AU", "", "GB-SCT", ""],
                   [LONDON, None, None, None, (-33.9, 151.2)])
    assert lists.blocked(ctx) == [frozenset({"red", "blue"}), frozenset(), frozenset(),
                                  frozenset({"red", "green"}), frozenset()]
    fixes = _csv(tmp_path / "f.csv", [f"{CELL},blue,remove", "gb-sct,green,allow"])
    fixed = PlaceLists.read(base, KNOWN, fixes)
    # blue is no longer blocked in the cell; green is now allowed in Scotland only
    assert fixed.blocked(ctx)[:4] == [{"red", "green"}, set(), set(), {"red"}]


@pytest.mark.parametrize(("rows", "fixes", "message"), [
    (["GBR,red,block"], False, "line 2, field 'place': 'GBR' is not an ISO 3166"),
    (["GB,red,maybe"], False, "line 2, field 'list': 'maybe' is not one of allow, block"),
    (["GB,red,block", "GB,,block"], False, "line 3, field 'taxon': empty"),
    (["GB,red,remove"], False, "field 'list': 'remove' is not one of allow, block"),
    (["GB,rde,block"], True, "line 2, field 'taxon': unknown taxon 'rde'"),
])
def test_bad_rows_are_refused_with_file_line_and_field(tmp_path: Path, rows: list[str],
                                                       fixes: bool, message: str) -> None:
    path = _csv(tmp_path / "l.csv", rows)
    with pytest.raises(InputError, match=r"l\.csv") as err:
        if fixes:
            PlaceLists.read(_csv(tmp_path / "base.csv", []), KNOWN, path)
        else:
            PlaceLists.read(path, KNOWN)
    assert message in str(err.value)
    if fixes:
        assert "did you mean 'red'" in str(err.value)


def test_identify_applies_place_lists_from_the_listing_s_country(tmp_path: Path,
                                                                 tiny_model: Path) -> None:
    rows = write_photos(tmp_path / "img", 6)
    lines = ["photo_id,path,country,label"] + [f"p{i},{p},{'GB' if i < 3 else 'AU'},{lab}"
                                               for i, (p, lab) in enumerate(rows)]
    (tmp_path / "photos.csv").write_text("\n".join(lines) + "\n")
    lists = _csv(tmp_path / "l.csv", ["AU,red,allow"])
    out = tmp_path / "o.csv"
    res = CliRunner().invoke(app, ["identify", str(tiny_model), str(tmp_path / "photos.csv"),
                                   "-o", str(out), "--place-lists", str(lists),
                                   "--threshold", "0.5"])
    assert res.exit_code == 0, res.output
    with out.open(newline="") as fh:
        got = list(csv.DictReader(fh))
    for r in got:
        if r["label"] == "red" and r["photo_id"] in ("p0", "p1", "p2"):
            assert r["taxon"] != "red" and "blocked:red" in r["provenance"], r
        if r["photo_id"] in ("p3", "p4", "p5"):
            assert "blocked" not in r["provenance"], r
    res = CliRunner().invoke(app, ["identify", str(tiny_model), str(tmp_path / "photos.csv"),
                                   "-o", str(out), "--place-fixes", str(lists)])
    assert res.exit_code == 2 and "give --place-lists too" in res.output

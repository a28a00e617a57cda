"""Recordings decided with the photos' identify options (issue 28 point 4, issue 26): a
checklist (``--taxa``) and a clade (``--within``) restrict every window's answer, the card's
thresholds per group decide windows (``--no-group-thresholds`` turns them off), and each
window says how it was decided (``threshold``, ``provenance``). The model is the mel probe
trained in conftest, copied with a lineage and group thresholds written into its card."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pytest

from fieldguide.identification.groups import KEY, GroupThresholds
from fieldguide.identification.identifier import IdentifyOptions
from fieldguide.models.card import read_card, update_card
from fieldguide.sound.identify import identify_recordings
from tests.sound.conftest import KINDS, RATE, call, sf

REPO = Path(__file__).resolve().parents[2]

#: Two made-up genera: the pulsed and sweeping calls, and the steady whistle with the field.
LINEAGE = {"chirp": {"genus": "Varius", "species": "chirp"},
           "trill": {"genus": "Varius", "species": "trill"},
           "tone": {"genus": "Constans", "species": "tone"},
           "field": {"genus": "Constans", "species": "field"}}
GROUPS = GroupThresholds(target=0.9, shrink=20.0, overall=0.6,
                         thresholds={"Varius": 0.55, "Constans": 0.999},
                         class_group={c: v["genus"] for c, v in LINEAGE.items()},
                         rank="genus")


@pytest.fixture(scope="module")
def grouped_model(tmp_path_factory: pytest.TempPathFactory, mel_model: Path) -> Path:
    """The mel probe with a genus per class and thresholds per genus in its card."""
    out = tmp_path_factory.mktemp("grouped") / "model"
    shutil.copytree(mel_model, out)
    card = read_card(out)
    update_card(out, lineage=LINEAGE, extras={**card.extras, KEY: GROUPS.to_dict()})
    return out


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """New 3-second calls of each kind (two windows each) and a file that is not audio."""
    root = tmp_path_factory.mktemp("calls")
    rng = np.random.default_rng(11)
    rows = ["recording_id,path"]
    for kind in KINDS:
        sf.write(root / f"{kind}.wav", call(kind, 3.0, rng), RATE)
        rows.append(f"{kind},{kind}.wav")
    (root / "broken.wav").write_text("not a recording\n")
    rows.append("broken,broken.wav")
    (root / "listing.csv").write_text("\n".join(rows) + "\n")
    return root / "listing.csv"


def _windows(model: Path, listing: Path, out: Path, **options: object
             ) -> list[dict[str, object]]:
    result, _ = identify_recordings(model, listing, out,
                                    IdentifyOptions(**options))
    return [r for r in result.windows.to_pylist() if not r["error"]]


def test_taxa_restricts_every_window_from_the_command_line(tmp_path: Path, mel_model: Path,
                                                           listing: Path) -> None:
    (tmp_path / "checklist.txt").write_text("# the whistles and trills only\ntone\ntrill\n"
                                            "Turdus merula\n")  # unknown names are skipped
    out = tmp_path / "out.csv"
    run = subprocess.run(
        [sys.executable, "-m", "fieldguide.cli.main", "identify", str(mel_model),
         str(listing), "-o", str(out), "--taxa", str(tmp_path / "checklist.txt"),
         "--threshold", "0.5"], capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
             "FIELDGUIDE_CACHE": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stderr
    rows = pcsv.read_csv(out).to_pylist()
    scored = [r for r in rows if not r["error"]]
    assert len(scored) == 6
    allowed = {"tone", "trill", None, ""}  # a CSV reads an empty cell as ""
    for r in scored:
        assert {r[f"taxon_{j}"] for j in range(1, 5)} <= allowed, r
        assert r["taxon"] in allowed, r
    chirp = [r for r in scored if r["recording_id"] == "chirp"]
    assert all(r["mass_outside"] > 0.5 for r in chirp), chirp  # mostly not a listed taxon
    assert all("restricted:checklist" in r["provenance"] for r in chirp)
    tone = [r for r in scored if r["recording_id"] == "tone"]
    assert all(r["taxon"] == "tone" for r in tone), tone
    broken = [r for r in rows if r["error"]]
    assert len(broken) == 1 and not broken[0]["provenance"]
    summary = pcsv.read_csv(out.with_name("out.recordings.csv")).to_pylist()
    assert {s["taxon"] for s in summary} <= allowed


def test_within_a_genus_and_its_refusal(tmp_path: Path, grouped_model: Path, listing: Path
                                        ) -> None:
    rows = _windows(grouped_model, listing, tmp_path / "out.csv", within="Varius",
                    group_thresholds=False, threshold=0.5)
    assert rows
    for r in rows:
        assert {r[f"taxon_{j}"] for j in range(1, 5)} <= {"chirp", "trill", None}, r
        assert r["taxon"] in {"chirp", "trill", "Varius", None}, r
    tone = [r for r in rows if r["recording_id"] == "tone"]
    assert all("restricted:within:Varius" in str(r["provenance"]) for r in tone)
    from fieldguide.errors import InputError

    with pytest.raises(InputError, match=r"did you mean 'Varius'") as err:
        _windows(grouped_model, listing, tmp_path / "bad.csv", within="Varios")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "bad.csv").exists()  # refused before any window is scored


def test_the_cards_group_thresholds_decide_windows(tmp_path: Path, grouped_model: Path,
                                                   listing: Path) -> None:
    rows = _windows(grouped_model, listing, tmp_path / "out.csv", threshold=0.7)
    by_top = {g: [r for r in rows if LINEAGE[str(r["taxon_1"])]["genus"] == g]
              for g in ("Varius", "Constans")}
    assert by_top["Varius"] and by_top["Constans"]
    for group, rs in by_top.items():
        for r in rs:
            assert r["threshold"] == pytest.approx(GROUPS.thresholds[group]), r
            assert str(r["provenance"]).startswith("vision+")
            assert f"group_threshold:{group}" in str(r["provenance"]), r
    # the whistle's genus asks 0.999: a whistle window short of it is not auto-validated
    assert not any(r["auto_validated"] for r in by_top["Constans"]
                   if float(r["probability"]) < 0.999)
    off = _windows(grouped_model, listing, tmp_path / "off.csv", threshold=0.7,
                   group_thresholds=False)  # --no-group-thresholds
    assert all(r["threshold"] == pytest.approx(0.7) for r in off)
    assert not any("group_threshold" in str(r["provenance"]) for r in off)


def test_every_window_says_how_it_was_decided(tmp_path: Path, mel_model: Path,
                                              listing: Path) -> None:
    result, _ = identify_recordings(mel_model, listing, tmp_path / "out.parquet",
                                    IdentifyOptions(threshold=0.5, no_reject=True))
    rows = result.windows.to_pylist()
    for r in rows:
        if r["error"]:
            assert r["provenance"] is None and r["threshold"] != r["threshold"]  # NaN
            continue
        tokens = str(r["provenance"]).split("+")
        assert tokens[0] == "vision", r
        assert ("undecided" in tokens) == (r["taxon"] is None), r
        assert r["threshold"] == pytest.approx(0.5)


def test_options_only_photos_have_are_refused_in_one_line(tmp_path: Path, mel_model: Path,
                                                          listing: Path) -> None:
    from fieldguide.errors import InputError

    for options, field in ((IdentifyOptions(source="lab"), "--source"),
                           (IdentifyOptions(engine="ray"), "--engine"),
                           (IdentifyOptions(place_fixes=tmp_path / "fixes.csv"),
                            "--place-fixes")):
        with pytest.raises(InputError) as err:
            identify_recordings(mel_model, listing, tmp_path / "out.csv", options)
        assert err.value.field == field and "\n" not in str(err.value)


def test_place_lists_block_a_taxon_where_the_recording_was_made(
        tmp_path: Path, grouped_model: Path, listing: Path) -> None:
    """``--place-lists`` read the listing's ``country`` as for photos: the whistle blocked in
    GB rolls up to its genus there, and a fixes file that removes the entry gives it back."""
    rows = listing.read_text().splitlines()
    placed = ["recording_id,path,country"] + [f"{r},{'GB' if r.startswith('tone') else 'FR'}"
                                              for r in rows[1:]]
    (listing.parent / "placed.csv").write_text("\n".join(placed) + "\n")
    (tmp_path / "lists.csv").write_text("place,taxon,list\nGB,tone,block\n")
    (tmp_path / "fixes.csv").write_text("place,taxon,list\nGB,tone,remove\n")
    options = {"threshold": 0.5, "group_thresholds": False, "place_lists": tmp_path / "lists.csv"}
    blocked = _windows(grouped_model, listing.parent / "placed.csv", tmp_path / "out.csv",
                       **options)
    tone = [r for r in blocked if r["recording_id"] == "tone"]
    assert tone and all(r["taxon"] != "tone" for r in tone), tone
    assert all("blocked:tone" in str(r["provenance"]) for r in tone), tone
    trill = [r for r in blocked if r["recording_id"] == "trill"]
    assert all("blocked" not in str(r["provenance"]) for r in trill)
    fixed = _windows(grouped_model, listing.parent / "placed.csv", tmp_path / "fixed.csv",
                     **options, place_fixes=tmp_path / "fixes.csv")
    assert all(r["taxon"] == "tone" for r in fixed if r["recording_id"] == "tone")

"""Canonical names and hybrid detection, on textbook cases and real OTT synonym strings."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldguide.taxonomy import canonical_name, is_hybrid, is_linnaean, parse_name, read_interim


@pytest.mark.parametrize(
    ("verbatim", "canonical"),
    [
        ("Echium vulgare L.", "Echium vulgare"),
        ("Acarus americanus Linnaeus, 1758", "Acarus americanus"),
        ("Aster subspicatus Nees", "Aster subspicatus"),
        ("Senecio hypsobates Wedd.", "Senecio hypsobates"),
        ("Quercus robur subsp. robur", "Quercus robur subsp. robur"),
        ("Quercus robur ssp. robur", "Quercus robur subsp. robur"),
        ("Echinops spinosissimus subsp macrolepis", "Echinops spinosissimus subsp. macrolepis"),
        ("Abies alba Mill. var. alba", "Abies alba var. alba"),
        ("Aster foliaceus varietas typicus", "Aster foliaceus var. typicus"),
        ("Campanula erinus forma albiflora", "Campanula erinus f. albiflora"),
        ("Picris hieracioides (L.) Scop.", "Picris hieracioides"),
        ("Cirsium arvense (L.) Scop. var. mite Wimm. & Grab.", "Cirsium arvense var. mite"),
        ("Tanacetum vulgare var. boreale (Fisch. ex DC.) Trautv. & C.A.Mey",
         "Tanacetum vulgare var. boreale"),
        ("Aster novae-angliae de Vries", "Aster novae-angliae"),
        ("Rubus idaeus L. f. pendula Foo", "Rubus idaeus f. pendula"),
        ("ECHIUM  VULGARE", "Echium vulgare"),
        ("echium vulgare", "Echium vulgare"),
        ("  Echium\tvulgare  ", "Echium vulgare"),
        ("Asteraceae Bercht. & J.Presl", "Asteraceae"),
        ("Echium L.", "Echium"),
        ("Carex sp.", "Carex"),
        ("Carex spp.", "Carex"),
        ("Erigeron sp. Santiago & Guala 9/5/00", "Erigeron"),
        ("Quercus cf. robur", "Quercus robur"),
        ("Phyteuma aff. orbiculare CAM009", "Phyteuma orbiculare"),
        ("Aedes (Stegomyia) aegypti (Linnaeus, 1762)", "Aedes aegypti"),
        ("Canis lupus familiaris", "Canis lupus familiaris"),
        ("Achillea moschata Wulfen (=Achillea erba-rotta subsp. moschata (Wulfen) I.Richardson)",
         "Achillea moschata"),
        ("× Festulolium", "× Festulolium"),
        ("×Festulolium Asch. & Graebn.", "× Festulolium"),
        ("xFestulolium", "× Festulolium"),
        ("Mentha × piperita", "Mentha × piperita"),
        ("Mentha x piperita L.", "Mentha × piperita"),
        ("Mentha ×piperita", "Mentha × piperita"),
        ("Cousinia chrysochlora x Cousinia eryngioides",
         "Cousinia chrysochlora × Cousinia eryngioides"),
        ("BOLD:AAF9225", "BOLD:AAF9225"),
        ("unclassified Asterales", "unclassified Asterales"),
    ],
)
def test_canonical_name(verbatim: str, canonical: str) -> None:
    assert canonical_name(verbatim) == canonical


def test_canonical_name_is_idempotent() -> None:
    for name in ("Mentha x piperita L.", "Abies alba Mill. var. alba", "× Festulolium"):
        once = canonical_name(name)
        assert canonical_name(once) == once


def test_not_linnaean_flagged() -> None:
    assert not is_linnaean("BOLD:AAF9225")
    assert not is_linnaean("unclassified Asterales")
    assert is_linnaean("Echium vulgare L.")


def test_parse_name_parts() -> None:
    p = parse_name("Picris hieracioides (L.) Scop. subsp. umbellata (Schrank) Ces.")
    assert p.genus == "Picris"
    assert p.epithets == ("hieracioides", "umbellata")
    assert p.markers == ("subsp.",)
    assert "Scop." in p.authorship
    assert parse_name("Carex sp.").indeterminate
    assert parse_name("Quercus cf. robur").qualifier == "cf."


@pytest.mark.parametrize(
    ("name", "rank", "expected"),
    [
        ("Mentha × piperita", None, True),
        ("Mentha x piperita L.", None, True),
        ("× Festulolium", None, True),
        ("Cousinia chrysochlora x Cousinia eryngioides", None, True),
        ("Mentha ×gracilis nothosubsp. foo", None, True),
        ("Festulolium braunii", "genushybrid", True),
        ("Quercus alba", "hybrid", True),
        ("Salix alba", "nothospecies", True),
        ("Aster novae-angliae", None, False),
        ("Salix alba L.", None, False),
        ("Calamagrostis purpurea Trin. x Bern.", None, False),  # "x" inside authorship
    ],
)
def test_is_hybrid(name: str, rank: str | None, expected: bool) -> None:
    assert is_hybrid(name, rank) is expected


def test_real_ott_synonyms_with_authorship(shared_data: Path) -> None:
    """Every OTT synonym that is its accepted name plus authorship canonicalises to it."""
    merged, synonyms = read_interim(shared_data / "taxonomy/ott_asterales_gbif_ncbi/prev_aster")
    checked = 0
    for name, uid in zip(synonyms.names, synonyms.taxon_ids.tolist(), strict=True):
        accepted = merged.name(uid)
        rest = name[len(accepted) + 1 :]
        if name.startswith(accepted + " ") and (rest[:1].isupper() or rest[:1] == "("):
            checked += 1
            assert canonical_name(name) == canonical_name(accepted), name
    assert checked > 10_000

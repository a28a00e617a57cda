"""NameMatcher: exact, canonical, synonym, fuzzy, ambiguous and unmatched on a small tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldguide.taxonomy import NameMatcher, SynonymTable, Taxonomy, read_interim, summarise

ROWS = [
    (1, None, "Plantae", "kingdom"),
    (2, None, "Animalia", "kingdom"),
    (10, 1, "Asteraceae", "family"),
    (11, 1, "Lamiaceae", "family"),
    (20, 10, "Solidago", "genus"),
    (21, 10, "Aster", "genus"),
    (22, 11, "Mentha", "genus"),
    (23, 1, "× Festulolium", "genushybrid"),
    (30, 20, "Solidago amplexicaulis Torr. & A.Gray", "species"),
    (31, 21, "Aster sutchuenensis", "species"),
    (32, 22, "Mentha × piperita L.", "hybrid"),
    (33, 21, "Aster alpinus", "species"),
    (34, 21, "Aster alpinus subsp. vierhapperi", "subspecies"),
    (35, 20, "Solidago canadensis", "species"),
    # homonyms: a plant genus and an animal genus of the same name
    (40, 10, "Oenanthe", "genus"),
    (41, 2, "Oenanthe", "genus"),
]


@pytest.fixture
def matcher() -> NameMatcher:
    ids, parents, names, ranks = zip(*ROWS, strict=True)
    tax = Taxonomy.from_parents(ids, list(parents), list(names), list(ranks))
    syn = SynonymTable.from_pairs([("Aster setchuenensis Franch.", 31),
                                   ("Solidago altissima L.", 35),
                                   ("Mentha piperita", 32)])
    return NameMatcher(tax, syn)


def test_methods(matcher: NameMatcher) -> None:
    got = {m.name: (m.method, m.taxon_id) for m in matcher.match([
        "Solidago amplexicaulis Torr. & A.Gray",
        "SOLIDAGO  AMPLEXICAULIS",
        "Aster setchuenensis",
        "Solidago altissima var. altissima",
        "Solidago canadensys",
        "Solidago flexicaulis",
        "Soldago canadensis",
        "Quercus robur",
        "BOLD:AAF9225",
    ])}
    assert got["Solidago amplexicaulis Torr. & A.Gray"] == ("exact", 30)
    assert got["SOLIDAGO  AMPLEXICAULIS"] == ("canonical", 30)
    assert got["Aster setchuenensis"] == ("synonym", 31)
    assert got["Solidago canadensys"] == ("fuzzy", 35)
    assert got["Soldago canadensis"] == ("fuzzy", 35)  # the genus itself fuzzy-matches
    assert got["Solidago flexicaulis"] == ("unmatched", None)  # not a slip of the pen
    assert got["Solidago altissima var. altissima"] == ("unmatched", None)
    assert got["Quercus robur"] == ("unmatched", None)
    assert got["BOLD:AAF9225"] == ("unmatched", None)


def test_gender_endings_and_formula_hybrids(matcher: NameMatcher) -> None:
    assert matcher.match_one("Aster alpina").taxon_id == 33
    assert matcher.match_one("Solidago canadense").taxon_id == 35


def test_fuzzy_reports_score_and_name(matcher: NameMatcher) -> None:
    m = matcher.match_one("Aster sutchuenense")
    assert m.method == "fuzzy" and m.matched_name == "Aster sutchuenensis"
    assert 85 <= m.score < 100


def test_fuzzy_never_crosses_genera(matcher: NameMatcher) -> None:
    # each epithet exists, but in another genus: no fuzzy hop between genera
    assert matcher.match_one("Mentha alpinus").method == "unmatched"
    assert matcher.match_one("Solidago sutchuenensis").method == "unmatched"


def test_hybrids(matcher: NameMatcher) -> None:
    assert matcher.match_one("Mentha x piperita").taxon_id == 32
    assert matcher.match_one("Mentha ×piperita").method == "canonical"
    assert matcher.match_one("Festulolium").taxon_id == 23  # sign omitted, as NCBI does
    assert matcher.match_one("xFestulolium").taxon_id == 23


def test_homonyms_ambiguous_unless_hinted(matcher: NameMatcher) -> None:
    m = matcher.match_one("Oenanthe")
    assert m.method == "ambiguous" and m.taxon_id is None and set(m.candidates) == {40, 41}
    assert matcher.match_one("Oenanthe", higher="Animalia").taxon_id == 41
    assert matcher.match_one("Oenanthe", higher="Asteraceae").taxon_id == 40
    assert matcher.match_one("Oenanthe", higher="Fungi").method == "ambiguous"


def test_rank_hint_rejects_other_levels(matcher: NameMatcher) -> None:
    assert matcher.match_one("Solidago sp.").taxon_id == 20  # a label at genus level
    assert matcher.match_one("Solidago sp.", rank="species").method == "unmatched"
    assert matcher.match_one("Aster alpinus", rank="species").taxon_id == 33


def test_qualifiers(matcher: NameMatcher) -> None:
    assert matcher.match_one("Aster cf. alpinus").taxon_id == 33
    assert matcher.match_one("Aster aff. alpinus CAM009").method == "unmatched"


def test_summarise(matcher: NameMatcher) -> None:
    counts = summarise(matcher.match(["Aster alpinus", "Oenanthe", "Nothing here", "Aster"]))
    assert counts == {"exact": 2, "canonical": 0, "synonym": 0, "fuzzy": 0, "ambiguous": 1,
                      "unmatched": 1}


def test_real_ncbi_misspellings(shared_data: Path) -> None:
    """NCBI lists 654 misspellings of its own names; without the synonym table, fuzzy and
    canonical matching alone must recover most of them and almost never pick another taxon
    (measured: 396 right, 1 wrong, 257 left unmatched)."""
    tax, syn = read_interim(shared_data / "taxonomy/ott_asterales_gbif_ncbi/ncbi_aster")
    matcher = NameMatcher(tax, None)
    right = wrong = total = 0
    for name, uid, kind in zip(syn.names, syn.taxon_ids.tolist(), syn.types, strict=True):
        if kind != "misspelling":
            continue
        total += 1
        m = matcher.match_one(name, rank=tax.rank(uid))
        right += m.taxon_id == uid
        wrong += m.taxon_id is not None and m.taxon_id != uid
    assert total == 654
    assert right >= 380
    assert wrong <= 5

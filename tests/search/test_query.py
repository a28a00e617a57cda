"""similar(): nearest photos, restricted to a subtree, exact for small subtrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fieldguide.errors import InputError
from fieldguide.search import Index, Taxa, query, similar, write_index
from tests.search.conftest import LINEAGE, MODEL, SPECIES, clustered


@pytest.fixture
def index(tmp_path: Path) -> Index:
    return write_index(tmp_path / "ix", clustered(25), model=MODEL, classes=SPECIES,
                       lineage=LINEAGE)


def test_neighbours_are_of_the_same_species(index: Index) -> None:
    e = clustered(25)
    found = similar(index, e.embeddings, k=5)
    labels = np.array(e.label)
    assert (labels[found.rows] == labels[:, None]).mean() > 0.95
    assert (np.diff(found.scores, axis=1) <= 1e-6).all()  # best first
    rec = found.records(index, e.photo_id)
    assert rec[0]["query"] == "p00000" and rec[0]["photo_id"] == "p00000"
    assert rec[0]["similarity"] == pytest.approx(1.0, abs=1e-4)


def test_taxon_restricts_to_a_subtree(index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    e = clustered(25)
    q = e.embeddings[:3]  # Bellis perennis photos
    for taxon, allowed in (("Bellis", {"Bellis perennis", "Bellis annua"}),
                           ("Viola tricolor", {"Viola tricolor"}),
                           ("asteraceae", set(SPECIES) - {"Viola tricolor"})):
        found = similar(index, q, k=100, taxon=taxon)
        got = {e.label[r] for r in found.rows.ravel() if r >= 0}
        assert got == allowed
    exact = similar(index, q, k=30, taxon="Viola")
    assert (exact.rows[:, 25:] == -1).all()  # only 25 Viola photos: the rest is padding
    monkeypatch.setattr(query, "EXACT_SUBSET", 0)  # the faiss id-selector path
    again = similar(index, q, k=30, taxon="Viola")
    np.testing.assert_array_equal(np.sort(again.rows, axis=1), np.sort(exact.rows, axis=1))


def test_unknown_taxon_names_the_closest(index: Index) -> None:
    with pytest.raises(InputError, match=r"unknown taxon 'Belis'.*did you mean 'Bellis'"):
        similar(index, clustered(1).embeddings, taxon="Belis")
    with pytest.raises(ValueError, match="wide"):
        similar(index, np.zeros((1, 5)), k=3)


def test_taxa_from_lineage() -> None:
    t = Taxa.from_lineage(SPECIES, LINEAGE)
    assert t.rank["Bellis"] == "genus" and t.rank["Plantae"] == "kingdom"
    assert t.within("Bellis annua", "Asteraceae") and not t.within("Viola tricolor", "Bellis")
    assert t.within("Bellis", "Plantae") and not t.within("Plantae", "Bellis")
    assert not t.within("unknown name", "Plantae")
    assert t.class_mask("Bellis").tolist() == [True, True, False, False]

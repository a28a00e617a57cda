"""Readers: Open Tree interim format and iNaturalist taxa files, on real and broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fieldguide.errors import InputError
from fieldguide.taxonomy import read_inat_taxa_csv, read_interim

OTT = "taxonomy/ott_asterales_gbif_ncbi"
INAT = "inat_api/pyinaturalist_convert_sample_data"


def test_read_interim_gbif(shared_data: Path) -> None:
    tax, syn = read_interim(shared_data / OTT / "gbif_aster")
    assert len(tax) == 11_221 and len(syn) == 12_540
    assert tax.name(414) == "Asterales" and tax.rank(414) == "order"
    assert tax.parent(7274513) == 6756  # Moschopsis in Calyceraceae
    assert tax.roots().tolist() == [414]
    assert "Boopidaceae" in syn.names
    assert syn.taxon_ids[syn.names.index("Boopidaceae")] == 6756
    counts = np.unique(tax.ancestor_at_rank(tax.ids, "family") >= 0, return_counts=True)
    assert counts[1].sum() == len(tax)


def test_read_interim_ncbi_ranks_and_columns(shared_data: Path) -> None:
    tax, syn = read_interim(shared_data / OTT / "ncbi_aster")
    assert len(tax) == 15_258 and len(syn) == 3_091
    assert tax.rank(1237710) is None  # "no rank - terminal"
    assert tax.columns["flags"][tax.index(1237710)] == "was_container"
    varietas = [t for t in tax.ids.tolist() if tax.rank(t) == "variety"]
    assert len(varietas) == 417  # NCBI "varietas" normalised
    merged, _ = read_interim(shared_data / OTT / "prev_aster")
    assert merged.columns["sourceinfo"][merged.index(1042120)] == "ncbi:4209,gbif:414"


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_read_interim_without_bars_and_header(tmp_path: Path) -> None:
    _write(tmp_path / "taxonomy.tsv", ["1\t\tLife\tno rank", "2\t1\tPlantae\tkingdom"])
    tax, syn = read_interim(tmp_path)
    assert tax.parent(2) == 1 and len(syn) == 0


def test_read_interim_dangling_parent_names_file(tmp_path: Path) -> None:
    _write(tmp_path / "taxonomy.tsv", [
        "uid\t|\tparent_uid\t|\tname\t|\trank\t|",
        "1\t|\t\t|\tLife\t|\tno rank\t|",
        "2\t|\t9\t|\tPlantae\t|\tkingdom\t|",
    ])
    with pytest.raises(InputError, match=r"taxonomy.tsv.*taxon id 2 has parent 9"):
        read_interim(tmp_path)


def test_read_interim_bad_id_names_line(tmp_path: Path) -> None:
    _write(tmp_path / "taxonomy.tsv", ["uid\t|\tparent_uid\t|\tname\t|\trank\t|",
                                       "x1\t|\t\t|\tLife\t|\tno rank\t|"])
    with pytest.raises(InputError, match="line 2, field 'uid'"):
        read_interim(tmp_path)


def test_read_interim_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_interim(tmp_path / "nope")


def test_read_inat_open_data_taxa(shared_data: Path) -> None:
    tax = read_inat_taxa_csv(shared_data / INAT / "inaturalist-open-data/taxa.csv")
    assert tax.name(28799) == "Rhadinella pilonaorum" and tax.rank(28799) == "species"
    assert tax.ancestors(28799)[-4:] == [355675, 2, 1, 48460]  # ancestry chain kept
    assert tax.name(48460) == ""  # placeholder for an ancestor missing from the excerpt
    assert tax.columns["active"][tax.index(27928)] == "false"
    assert (np.asarray(tax.columns["active"]) == "true").sum() >= 10


def test_read_inat_id_parent_taxonomy(shared_data: Path) -> None:
    tax = read_inat_taxa_csv(shared_data / INAT / "taxonomy.csv")
    assert len(tax) == 1683 and tax.roots().tolist() == [48460]
    aves = tax.ids_by_name("Aves")
    assert aves == [3]
    assert tax.ancestor_at_rank([3], "kingdom").tolist() == [1]


def test_read_inat_missing_columns(tmp_path: Path) -> None:
    (tmp_path / "taxa.csv").write_text("taxon_id\tname\n1\tLife\n", encoding="utf-8")
    with pytest.raises(InputError, match="ancestry"):
        read_inat_taxa_csv(tmp_path / "taxa.csv")

from __future__ import annotations

from pathlib import Path

from fieldguide.curation import plot_photos_per_taxon, summarise, to_markdown
from fieldguide.ingest import ingest_dwca, ingest_inat_csv, ingest_votes
from fieldguide.store import Study


def test_summary_of_real_exports_and_votes(tmp_path: Path, shared_data: Path) -> None:
    obs = shared_data / "observations"
    with Study(tmp_path / "s") as study:
        ingest_inat_csv(study, obs / "inat_flowering_taylor2019" / "inat_rudbeckia_hirta.csv")
        ingest_dwca(study, obs / "gbif_dwca_amblyomma_sample")
        ingest_votes(study, shared_data / "votes" / "plantnet_toy" / "normalized" / "votes.csv")
        result = summarise(study)
    assert result.totals["observations"] == 5408 + 1310 + 20
    assert result.totals["photos"] == 5408 + 1362
    assert result.totals["votes (current)"] == 49
    assert dict(result.taxa_per_rank)["species"] == 2
    supers = {r.superclass: r for r in result.superclasses}
    assert supers["Plantae"].observations == 5408
    assert supers["Arachnida"].photos == 1362
    # plantnet_toy: 20 tasks with 1 to 4 votes each.
    assert sum(n for _, n in result.votes_per_observation) == 20
    biggest = max(c.photos for c in result.classes)
    smallest = min(c.photos for c in result.classes)
    assert result.imbalance == biggest / smallest
    md = to_markdown(result, "plot.png")
    assert "| Plantae | 3 | 5,408 | 5,408 |" in md
    png = plot_photos_per_taxon(result, tmp_path / "plot.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_superclass_by_rank(tmp_path: Path, shared_data: Path) -> None:
    with Study(tmp_path / "s") as study:
        ingest_dwca(study, shared_data / "observations" / "gbif_dwca_amblyomma_sample")
        result = summarise(study, superclass_rank="order")
    assert {r.superclass for r in result.superclasses} == {"Ixodida"}

"""Printing stage results for people: rich tables in the terminal, files in the study."""

from __future__ import annotations

from pathlib import Path

from fieldguide.store import Study


def print_summary(study: Study, superclass_rank: str | None) -> None:
    """Print the study summary and write it as Markdown with its plot."""
    from rich.console import Console
    from rich.table import Table

    from fieldguide.curation import plot_photos_per_taxon, summarise, to_markdown

    result = summarise(study, superclass_rank)
    console = Console()
    totals = Table(title="Study", show_header=False)
    for name, value in result.totals.items():
        totals.add_row(name, f"{value:,}")
    if result.classes:
        totals.add_row("imbalance ratio", f"{result.imbalance:.1f}")
    console.print(totals)
    ranks = Table(title="Taxa per rank")
    ranks.add_column("rank")
    ranks.add_column("taxa", justify="right")
    for rank, n in result.taxa_per_rank:
        ranks.add_row(rank, f"{n:,}")
    console.print(ranks)
    if result.votes_per_observation:
        votes = Table(title="Votes per observation")
        votes.add_column("votes")
        votes.add_column("observations", justify="right")
        for label, n in result.votes_per_observation:
            votes.add_row(label, f"{n:,}")
        console.print(votes)
    if result.superclasses:
        sup = Table(title="Per super-class")
        for col in ("super-class", "classes", "observations", "photos"):
            sup.add_column(col, justify="left" if col == "super-class" else "right")
        for row in result.superclasses:
            sup.add_row(
                row.superclass, f"{row.classes:,}", f"{row.observations:,}", f"{row.photos:,}"
            )
        console.print(sup)
    plot = None
    if result.classes:
        plot = plot_photos_per_taxon(result, study.reports_dir / "photos_per_taxon.png")
    md = study.reports_dir / "summary.md"
    md.write_text(to_markdown(result, plot.name if plot else None), encoding="utf-8")
    console.print(f"wrote {md}" + (f" and {plot}" if plot else ""))


def write_matches(study: Study, names_file: Path, output: Path, source: str | None) -> None:
    """Match every name in ``names_file`` and write one CSV row per name with its method."""
    import csv

    from rich.console import Console

    from fieldguide.errors import InputError
    from fieldguide.inputs import no_nul, output_file, read_lines
    from fieldguide.store import load_taxonomy
    from fieldguide.taxonomy import NameMatcher, summarise

    lines = read_lines(names_file, what="names file")
    names = [no_nul(n.strip(), names_file, i) for i, n in enumerate(lines, 1) if n.strip()]
    if not names:
        raise InputError("no names in the file", path=names_file)
    output_file(output)
    taxonomy, synonyms = load_taxonomy(study, source)
    if not len(taxonomy):
        raise InputError("the study has no taxa to match against (ingest a taxonomy first)")
    matches = NameMatcher(taxonomy, synonyms).match(names)
    with output.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "method", "taxon_id", "matched_name", "score", "candidates"])
        for m in matches:
            writer.writerow([m.name, m.method, m.taxon_id, m.matched_name, f"{m.score:.1f}",
                             " ".join(map(str, m.candidates))])
    counts = summarise(matches)
    Console().print(", ".join(f"{k}: {v:,}" for k, v in counts.items()) + f"; wrote {output}")

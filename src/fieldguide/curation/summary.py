"""What a study holds: counts, votes per observation, photos per taxon, super-class table.

``summarise`` reads the store; ``to_markdown`` and ``plot_photos_per_taxon`` render the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fieldguide.curation.statistics import (
    ICONIC_TAXA,
    ClassCount,
    SuperclassRow,
    histogram_bins,
    imbalance_ratio,
    superclass_table,
)
from fieldguide.store import Study
from fieldguide.store.sql import first_row


@dataclass
class StudySummary:
    totals: dict[str, int]
    taxa_per_rank: list[tuple[str, int]]
    votes_per_observation: list[tuple[str, int]]
    classes: list[ClassCount]
    superclasses: list[SuperclassRow] = field(default_factory=list)

    @property
    def imbalance(self) -> float:
        return imbalance_ratio([c.photos for c in self.classes])


def summarise(study: Study, superclass_rank: str | None = None) -> StudySummary:
    """Summarise the study. Super-classes are iNaturalist's iconic taxa found in each lineage
    (else the kingdom), or the ancestor at ``superclass_rank`` when given."""
    con = study.con
    totals = {}
    for name, sql in {
        "observations": "SELECT count(*) FROM observations",
        "photos": "SELECT count(*) FROM photos",
        "observers": "SELECT count(DISTINCT observer) FROM observations",
        "taxa": "SELECT count(*) FROM taxa",
        "votes (current)": "SELECT count(*) FROM identifications WHERE is_current",
        "voters": "SELECT count(DISTINCT user_id) FROM identifications",
    }.items():
        row = first_row(con.execute(sql))
        totals[name] = int(row[0]) if row else 0
    per_rank = [
        (r or "(no rank)", int(n))
        for r, n in con.execute(
            "SELECT rank, count(*) FROM taxa GROUP BY rank ORDER BY max(rank_level) DESC NULLS LAST"
        ).fetchall()
    ]
    votes = [
        int(r[0])
        for r in con.execute(
            "SELECT count(*) FROM identifications WHERE is_current GROUP BY observation_id"
        ).fetchall()
    ]
    # The super-class test is bound, never spliced: the rank is the user's text.
    params: list[object]
    if superclass_rank is None:
        pick, params = "list_contains(?::VARCHAR[], a.name) OR a.rank = 'kingdom'", [
            list(ICONIC_TAXA)]
    else:
        pick, params = "a.rank = ?", [superclass_rank]
    rows = con.execute(f"""
        WITH RECURSIVE up(taxon_id, anc_id, depth) AS (
            SELECT taxon_id, taxon_id, 0 FROM taxa
            UNION ALL
            SELECT up.taxon_id, t.parent_id, up.depth + 1
            FROM up JOIN taxa t ON t.taxon_id = up.anc_id WHERE t.parent_id IS NOT NULL
        ),
        super AS (
            SELECT up.taxon_id, arg_min(a.name, up.depth) AS superclass
            FROM up JOIN taxa a ON a.taxon_id = up.anc_id WHERE {pick} GROUP BY up.taxon_id
        ),
        per_obs AS (
            SELECT o.taxon_id, count(DISTINCT o.observation_id) AS observations,
                   count(p.photo_id) AS photos
            FROM observations o LEFT JOIN photos p USING (observation_id)
            WHERE o.taxon_id IS NOT NULL GROUP BY o.taxon_id
        )
        SELECT t.name, coalesce(s.superclass, '(none)'), per_obs.photos, per_obs.observations
        FROM per_obs JOIN taxa t USING (taxon_id) LEFT JOIN super s USING (taxon_id)
        ORDER BY per_obs.photos DESC, t.name
    """, params).fetchall()
    classes = [ClassCount(n, s, int(p), int(o)) for n, s, p, o in rows]
    return StudySummary(
        totals=totals,
        taxa_per_rank=per_rank,
        votes_per_observation=histogram_bins(votes, [1, 2, 3, 4, 5, 10]) if votes else [],
        classes=classes,
        superclasses=superclass_table(classes),
    )


def to_markdown(summary: StudySummary, plot_name: str | None = None) -> str:
    """The summary as a Markdown report (tables a person can paste or diff)."""
    out = ["# Study summary", "", "| quantity | count |", "|---|---:|"]
    out += [f"| {k} | {v:,} |" for k, v in summary.totals.items()]
    out += ["", "## Taxa per rank", "", "| rank | taxa |", "|---|---:|"]
    out += [f"| {r} | {n:,} |" for r, n in summary.taxa_per_rank]
    if summary.votes_per_observation:
        out += ["", "## Votes per observation", "", "| votes | observations |", "|---|---:|"]
        out += [f"| {b} | {n:,} |" for b, n in summary.votes_per_observation]
    if summary.classes:
        photos = [c.photos for c in summary.classes]
        out += [
            "",
            "## Photos per taxon",
            "",
            f"{len(photos):,} taxa with observations; photos per taxon: max {max(photos):,}, "
            f"min {min(photos):,}, median {sorted(photos)[len(photos) // 2]:,}; "
            f"imbalance ratio (largest / smallest) {summary.imbalance:.1f}.",
        ]
        if plot_name:
            out += ["", f"![photos per taxon]({plot_name})"]
        out += [
            "",
            "## Per super-class",
            "",
            "| super-class | classes | observations | photos |",
            "|---|---:|---:|---:|",
        ]
        out += [
            f"| {r.superclass} | {r.classes:,} | {r.observations:,} | {r.photos:,} |"
            for r in summary.superclasses
        ]
        out += [
            "",
            "## Largest and smallest classes",
            "",
            "| taxon | super-class | photos |",
            "|---|---|---:|",
        ]
        shown = summary.classes[:10] + (summary.classes[-5:] if len(summary.classes) > 15 else [])
        out += [f"| {c.taxon} | {c.superclass} | {c.photos:,} |" for c in shown]
    return "\n".join(out) + "\n"


def plot_photos_per_taxon(summary: StudySummary, path: Path) -> Path:
    """Photos per taxon, ranked (log scale): the long tail at a glance (iNat2017 figure 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    photos = sorted((c.photos for c in summary.classes), reverse=True)
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=120)
    ax.bar(range(len(photos)), photos, width=1.0, color="#3b7d4f")
    if photos and max(photos) > 50 * max(min(photos), 1):
        ax.set_yscale("log")
    ax.set_xlabel("taxa, sorted by photos")
    ax.set_ylabel("photos")
    ax.set_title(f"Photos per taxon ({len(photos):,} taxa, imbalance {summary.imbalance:.1f})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

"""Score name harmonisation against a ground-truth crosswalk (Open Tree's merged taxonomy).

OTT's ``sourceinfo`` column ("ncbi:4209,gbif:414") records which source taxa the OTT merge
judged to be the same; mapping every NCBI name onto GBIF with ``NameMatcher`` and comparing
with those links measures how far name matching alone gets, and which names it gets wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fieldguide.taxonomy.harmonise import Match, NameMatcher, summarise
from fieldguide.taxonomy.io import SynonymTable, read_interim
from fieldguide.taxonomy.tree import Taxonomy


@dataclass
class CrosswalkReport:
    """Figures of one evaluation; ``failures`` lists every checked taxon mapped wrongly or not."""

    n_source: int
    n_checked: int  #: source taxa whose merged entry also links a target taxon
    n_correct: int
    n_wrong: int  #: checked taxa mapped to another target taxon
    by_method: dict[str, int]  #: all source taxa, per match method
    wrong_by_method: dict[str, int]
    n_mapped_unverifiable: int  #: mapped, but the merge links no target taxon
    n_links_outside: int = 0  #: source taxa linked to a target id absent from the target files
    n_pairs_agree: int = 0  #: mapped pairs whose two taxa the merge also puts in one taxon
    n_pairs_conflict: int = 0  #: mapped pairs whose two taxa the merge keeps apart
    failures: list[tuple[str, Match, int, str]] = field(default_factory=list)

    @property
    def share_correct(self) -> float:
        return self.n_correct / self.n_checked if self.n_checked else 0.0

    @property
    def precision(self) -> float:
        """Share correct among checked taxa that were mapped to something."""
        mapped = self.n_correct + self.n_wrong
        return self.n_correct / mapped if mapped else 0.0

    def table(self) -> str:
        """The figures as a Markdown table."""
        rows = [
            ("source taxa", self.n_source),
            ("checked (merged entry has a target id)", self.n_checked),
            ("mapped to the right target id", f"{self.n_correct} ({self.share_correct:.2%})"),
            ("mapped to a wrong target id", self.n_wrong),
            ("precision of mapped checked taxa", f"{self.precision:.2%}"),
            ("linked to a target id not in the target files (skipped)", self.n_links_outside),
            ("mapped, unverifiable (no usable link)", self.n_mapped_unverifiable),
            ("all mapped pairs: merge agrees / keeps apart",
             f"{self.n_pairs_agree} / {self.n_pairs_conflict}"),
        ]
        rows += [(f"method {m} (wrong)", f"{n} ({self.wrong_by_method.get(m, 0)})")
                 for m, n in self.by_method.items()]
        return "\n".join(["| figure | value |", "|---|---:|"] + [f"| {a} | {b} |" for a, b in rows])


def merged_members(merged: Taxonomy) -> dict[tuple[str, int], int]:
    """(prefix, source id) -> merged taxon id, from the sourceinfo column."""
    members: dict[tuple[str, int], int] = {}
    for oid, info in zip(merged.ids.tolist(), merged.columns.get("sourceinfo", []), strict=True):
        for item in info.split(","):
            prefix, _, value = item.strip().partition(":")
            if value.isdigit():
                members.setdefault((prefix, int(value)), oid)
    return members


def crosswalk_links(merged: Taxonomy, source: str, target: str) -> dict[int, int]:
    """source id -> target id for every merged taxon whose sourceinfo names both."""
    links: dict[int, int] = {}
    for info in merged.columns.get("sourceinfo", []):
        ids: dict[str, int] = {}
        for item in info.split(","):
            prefix, _, value = item.strip().partition(":")
            if value.isdigit() and prefix not in ids:
                ids[prefix] = int(value)
        if source in ids and target in ids:
            links.setdefault(ids[source], ids[target])
    return links


def match_taxonomy(
    source: Taxonomy, matcher: NameMatcher, hint_rank: str = "family"
) -> list[Match]:
    """Match every taxon name of ``source``, hinting each with its rank and its ``hint_rank``
    ancestor's name (which picks among homonyms)."""
    anc = source.ancestor_at_rank(source.ids, hint_rank)
    higher = [source.names[i] if i >= 0 else None for i in _rows(source, anc)]
    ranks = [source.rank(int(t)) for t in source.ids]
    return matcher.match(source.names, ranks=ranks, higher=higher)


def _rows(tax: Taxonomy, ids: np.ndarray[tuple[int], np.dtype[np.int64]]) -> list[int]:
    out = np.full(len(ids), -1, dtype=np.int64)
    known = ids >= 0
    out[known] = tax.indices(ids[known])
    return [int(i) for i in out]


def evaluate_crosswalk(
    source_dir: str | Path,
    target_dir: str | Path,
    merged_dir: str | Path,
    source_prefix: str = "ncbi",
    target_prefix: str = "gbif",
    fuzzy_threshold: float | None = 85.0,
) -> CrosswalkReport:
    """Map every source name onto the target taxonomy (with its synonyms) and score the
    result against the merged taxonomy's sourceinfo links."""
    source, _ = read_interim(source_dir)
    target, target_syn = read_interim(target_dir)
    merged, _ = read_interim(merged_dir)
    matches = match_taxonomy(source, NameMatcher(target, target_syn, fuzzy_threshold))
    report = score_matches(
        source, matches, crosswalk_links(merged, source_prefix, target_prefix), target
    )
    members = merged_members(merged)
    for sid, m in zip(source.ids.tolist(), matches, strict=True):
        a = members.get((source_prefix, sid))
        b = members.get((target_prefix, m.taxon_id)) if m.taxon_id is not None else None
        if a is not None and b is not None:
            report.n_pairs_agree += a == b
            report.n_pairs_conflict += a != b
    return report


def score_matches(
    source: Taxonomy, matches: list[Match], links: dict[int, int], target: Taxonomy
) -> CrosswalkReport:
    """Compare ``matches`` (one per source taxon, in row order) with the ``links``."""
    wrong: dict[str, int] = {}
    correct = n_wrong = unverifiable = checked = outside = 0
    failures: list[tuple[str, Match, int, str]] = []
    for tid, m in zip(source.ids.tolist(), matches, strict=True):
        truth = links.get(tid)
        if truth is not None and truth not in target:
            outside += 1  # the merge used a fuller target than the files given: cannot score
            truth = None
        if truth is None:
            unverifiable += m.taxon_id is not None
            continue
        checked += 1
        if m.taxon_id == truth:
            correct += 1
            continue
        if m.taxon_id is not None:
            n_wrong += 1
            wrong[m.method] = wrong.get(m.method, 0) + 1
        failures.append((source.rank(tid) or "", m, truth, target.name(truth)))
    return CrosswalkReport(
        n_source=len(source), n_checked=checked, n_correct=correct, n_wrong=n_wrong,
        by_method=summarise(matches), wrong_by_method=wrong,
        n_mapped_unverifiable=unverifiable, n_links_outside=outside, failures=failures,
    )


__all__ = ["CrosswalkReport", "SynonymTable", "evaluate_crosswalk", "score_matches"]

"""Name harmonisation across sources (as Naturalis' TaxonMap does): map names onto one taxonomy.

Each input name is tried, in order, as an exact name, a canonical name (authorship, case and
spacing normalised), a synonym (canonicalised too) and finally a fuzzy match for misspellings.
Homonyms are never guessed: a name that fits several taxa is "ambiguous" unless a rank hint or
a higher taxon (family, kingdom ...) leaves exactly one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, Levenshtein

from fieldguide.taxonomy.io import SynonymTable
from fieldguide.taxonomy.names import HYBRID_SIGN, canonical_name, match_key, parse_name
from fieldguide.taxonomy.ranks import rank_level
from fieldguide.taxonomy.tree import Taxonomy

METHODS = ("exact", "canonical", "synonym", "fuzzy", "ambiguous", "unmatched")


@dataclass(frozen=True)
class Match:
    """How one input name was mapped. ``taxon_id`` is None unless method is a match."""

    name: str
    taxon_id: int | None
    matched_name: str | None
    method: str
    score: float = 0.0
    candidates: tuple[int, ...] = ()


def _unsign(canon: str) -> str:
    return canon.replace(f"{HYBRID_SIGN} ", "")


def _split(canon: str) -> tuple[str, str]:
    """(genus or uninomial, rest) of a canonical name; the hybrid sign is not a genus."""
    tokens = canon.split(" ")
    if tokens and tokens[0] == HYBRID_SIGN:
        tokens = tokens[1:]
    return (tokens[0] if tokens else ""), " ".join(tokens[1:])


class NameMatcher:
    """Map names from any source onto ``taxonomy`` (optionally with its synonym table).

    ``fuzzy_threshold`` is a rapidfuzz ``ratio`` (0-100) on the whole canonical name; fuzzy
    candidates are only taken from the query's own genus, or from genera whose name itself
    scores above the threshold (searched among genera with the same first letter), so it
    scales and never jumps to an unrelated genus. Each epithet must also keep its first
    letter and be within one edit (two neighbouring edits from ten letters); epithets under
    six letters must match exactly; Latin gender endings (-us/-a/-um ...) are free.
    ``fuzzy_threshold=None`` turns fuzzy matching off. Names qualified "cf." are matched to
    the named taxon; other qualifiers ("aff.", "nr.") are left unmatched.
    """

    def __init__(
        self,
        taxonomy: Taxonomy,
        synonyms: SynonymTable | Iterable[tuple[str, int]] | None = None,
        fuzzy_threshold: float | None = 85.0,
        accept_qualifiers: frozenset[str] = frozenset({"cf."}),
    ) -> None:
        self.taxonomy = taxonomy
        self.fuzzy_threshold = fuzzy_threshold
        self.accept_qualifiers = accept_qualifiers
        self._exact: dict[str, list[int]] = {}
        self._canonical: dict[str, list[int]] = {}
        self._unsigned: dict[str, list[int]] = {}  # hybrid sign dropped: NCBI writes none
        for tid, raw in zip(taxonomy.ids.tolist(), taxonomy.names, strict=True):
            self._exact.setdefault(" ".join(raw.split()), []).append(tid)
            canon = match_key(raw)
            self._canonical.setdefault(canon, []).append(tid)
            self._unsigned.setdefault(_unsign(canon), []).append(tid)
        table = synonyms if isinstance(synonyms, SynonymTable) else SynonymTable.from_pairs(
            synonyms or ()
        )
        self._synonym: dict[str, list[int]] = {}
        self._synonym_unsigned: dict[str, list[int]] = {}
        for raw, tid in zip(table.names, table.taxon_ids.tolist(), strict=True):
            canon = match_key(raw)
            for index, key in ((self._synonym, canon), (self._synonym_unsigned, _unsign(canon))):
                ids = index.setdefault(key, [])
                if tid not in ids:
                    ids.append(tid)
        # fuzzy blocks: genus (or uninomial) -> canonical names starting with it
        self._blocks: dict[str, list[str]] = {}
        self._uninomials: set[str] = set()
        for canon in dict.fromkeys((*self._canonical, *self._synonym)):
            genus, rest = _split(canon)
            block = self._blocks.setdefault(genus, [])
            if rest:
                block.append(canon)
            else:
                self._uninomials.add(canon)
        self._genera_by_letter: dict[str, list[str]] = {}
        for genus in self._blocks:
            self._genera_by_letter.setdefault(genus[:1], []).append(genus)

    def match(
        self,
        names: Sequence[str],
        ranks: Sequence[str | None] | None = None,
        higher: Sequence[str | None] | None = None,
    ) -> list[Match]:
        """Match every name; ``ranks`` and ``higher`` (a family, kingdom ... name per input)
        are optional hints used only to choose among homonyms."""
        out: list[Match] = []
        for i, name in enumerate(names):
            rank = ranks[i] if ranks is not None else None
            high = higher[i] if higher is not None else None
            out.append(self.match_one(name, rank, high))
        return out

    def match_one(self, name: str, rank: str | None = None, higher: str | None = None) -> Match:
        """Match one name (see ``match``)."""
        parsed = parse_name(name)
        if parsed.qualifier not in self.accept_qualifiers and parsed.qualifier is not None:
            return Match(name, None, None, "unmatched")  # "aff.": explicitly not that species
        spaced = " ".join(name.split())
        canon = parsed.canonical
        for method, index, key in (
            ("exact", self._exact, spaced),
            ("canonical", self._canonical, canon),
            ("canonical", self._unsigned, _unsign(canon)),
            ("synonym", self._synonym, canon),
            ("synonym", self._synonym_unsigned, _unsign(canon)),
        ):
            ids = self._same_level(index.get(key, []), rank, method == "synonym")
            if ids:
                return self._decide(name, ids, method, 100.0, rank, higher)
        if self.fuzzy_threshold is not None and parsed.linnaean:
            found = self._fuzzy(canon)
            if found is not None:
                matched, score = found
                ids = self._canonical.get(matched) or self._synonym.get(matched, [])
                ids = self._same_level(ids, rank, False)
                if ids:
                    return self._decide(name, ids, "fuzzy", score, rank, higher, matched)
        return Match(name, None, None, "unmatched")

    def _same_level(self, ids: list[int], rank: str | None, synonym: bool) -> list[int]:
        """Drop candidates whose rank level is known and differs from the hint's, so that
        "Dahlia sp." (a species) never maps onto the genus Dahlia, nor a tribe onto a family.
        Through a synonym, moves within the species group (a subspecies raised to species)
        are allowed: they are what synonymy records."""
        level = rank_level(rank)
        if level is None or not ids:
            return ids
        keep = []
        for t in ids:
            other = rank_level(self.taxonomy.rank(t))
            if other is None or other == level or (synonym and max(level, other) <= 10):
                keep.append(t)
        return keep

    def _decide(
        self,
        name: str,
        ids: list[int],
        method: str,
        score: float,
        rank: str | None,
        higher: str | None,
        matched: str | None = None,
    ) -> Match:
        """One candidate -> a match; several -> narrow by hints, else report ambiguous."""
        chosen = self._disambiguate(ids, rank, higher) if len(ids) > 1 else ids
        if len(chosen) != 1:
            return Match(name, None, None, "ambiguous", score, tuple(ids))
        tid = chosen[0]
        shown = matched if matched is not None else self.taxonomy.name(tid)
        return Match(name, tid, shown, method, score, tuple(ids) if len(ids) > 1 else ())

    def _disambiguate(self, ids: list[int], rank: str | None, higher: str | None) -> list[int]:
        keep = list(ids)
        if higher:
            want = canonical_name(higher)
            inside = [
                t for t in keep
                if any(self.taxonomy.name(a) == want for a in self.taxonomy.ancestors(t))
            ]
            keep = inside or keep
        return keep

    def _fuzzy(self, canon: str) -> tuple[str, float] | None:
        """Best canonical name within the genus block(s); None if none or a tie."""
        assert self.fuzzy_threshold is not None
        genus, rest = _split(canon)
        if not genus:
            return None
        if genus in self._blocks:
            genera = [genus]
        else:
            pool = self._genera_by_letter.get(genus[:1], [])
            hits = process.extract(
                genus, pool, scorer=fuzz.ratio, score_cutoff=self.fuzzy_threshold, limit=3
            )
            genera = [g for g, _, _ in hits]
        best: list[tuple[float, str]] = []
        for g in genera:
            if not rest:
                for name in (g, f"{HYBRID_SIGN} {g}"):
                    if name in self._uninomials:
                        best.append((fuzz.ratio(canon, name), name))
                continue
            hits = process.extract(
                canon, self._blocks[g], scorer=fuzz.ratio,
                score_cutoff=self.fuzzy_threshold, limit=3,
            )
            best.extend((score, name) for name, score, _ in hits if _close_epithets(rest, name))
        if not best:
            return None
        best.sort(key=lambda t: -t[0])
        if len(best) > 1 and best[1][0] == best[0][0] and best[1][1] != best[0][1]:
            return None  # two names equally close: do not guess
        return best[0][1], float(best[0][0])


def _close_epithets(rest: str, candidate: str) -> bool:
    """Misspelling guard: every epithet keeps its first letter and differs by at most one edit
    (a transposition counts one; two adjacent edits from ten letters); short epithets
    (under six letters) must be exact.
    So "flexicaulis" never becomes "amplexicaulis", nor "cana" "cina"."""
    mine = rest.split(" ")
    theirs = _split(candidate)[1].split(" ")
    if len(mine) != len(theirs):
        return False
    for a, b in zip(mine, theirs, strict=True):
        if a == b or _stem(a) == _stem(b):
            continue
        shortest = min(len(a), len(b))
        if a[:1] != b[:1] or shortest < 6:
            return False
        dist = OSA.distance(a, b)
        if dist > 2 or (dist == 2 and (shortest < 10 or not _one_spot(a, b))):
            return False
    return True


def _stem(epithet: str) -> str:
    """Epithet without its Latin gender or genitive ending, so "corymbosus", "corymbosa" and
    "corymbosum" (or "kraussi" and "kraussii", "ruber" and "rubra") compare equal."""
    if epithet.endswith("ii"):
        return epithet[:-1]
    if epithet.endswith("er"):
        return epithet[:-2] + "r"
    for ending in ("um", "us", "is", "a", "e"):
        if epithet.endswith(ending) and len(epithet) > len(ending) + 2:
            return epithet[: -len(ending)]
    return epithet


def _one_spot(a: str, b: str) -> bool:
    """True if the edits turning ``a`` into ``b`` touch two neighbouring letters
    ("scheutzeri" -> "scheuchzeri"), as a slip of the pen does; two scattered changes
    ("ardonensis" / "aldanensis") are more often two different names."""
    spots = [op.src_pos for op in Levenshtein.editops(a, b)]
    return bool(spots) and max(spots) - min(spots) <= 1


def summarise(matches: Iterable[Match]) -> dict[str, int]:
    """Counts per method, every method present (zeros included) for stable reports."""
    counts = Counter(m.method for m in matches)
    return {method: counts.get(method, 0) for method in METHODS}

"""Pure functions on scientific names: canonical form and hybrid detection.

Sources spell the same name differently ("Echium vulgare L.", "ECHIUM  VULGARE", "Quercus robur
ssp. robur"); names are compared on their canonical form, as GBIF's name parser and Naturalis'
TaxonMap do, so the rules below decide what two sources can agree on.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from fieldguide.taxonomy.ranks import HYBRID_RANKS, normalise_rank

HYBRID_SIGN = "×"

#: Infraspecific rank markers in any spelling -> the spelling kept in canonical names.
MARKERS: dict[str, str] = {
    "subsp.": "subsp.", "subsp": "subsp.", "ssp.": "subsp.", "ssp": "subsp.",
    "subspecies": "subsp.", "var.": "var.", "var": "var.", "varietas": "var.",
    "variety": "var.", "f.": "f.", "fo.": "f.", "forma": "f.", "form": "f.",
    "subvar.": "subvar.", "subf.": "subf.", "morph": "morph", "nothosubsp.": "nothosubsp.",
    "nothovar.": "nothovar.", "nothof.": "nothof.",
}
QUALIFIERS = frozenset({"cf.", "cf", "aff.", "aff", "nr.", "near", "?"})
INDETERMINATE = frozenset({"sp.", "sp", "spp.", "spp", "indet.", "sp.nov.", "gen."})
#: Lower-case words that belong to authorships, never epithets ("de Candolle", "L. ex Hook.").
PARTICLES = frozenset(
    {
        "de", "del", "della", "dela", "van", "von", "der", "den", "du", "la", "le", "da", "dos",
        "das", "do", "di", "ex", "et", "in", "non", "nec", "auct", "sensu", "emend", "al", "y",
        "ten", "ter", "zu", "fil", "bis", "and",
    }
)
NOT_LINNAEAN_HEADS = frozenset(
    {"unclassified", "environmental", "uncultured", "unidentified", "incertae", "unknown"}
)
_LOWER_WORD = re.compile(r"^[a-zà-öø-ÿœæ][a-zà-öø-ÿœæ\-]*$")
_GENUS = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿŒœÆæ][A-Za-zÀ-ÖØ-öø-ÿŒœÆæ\-]*$")
_SUBGENUS = re.compile(r"^\([A-Z][a-z\-]+\)$")
_SPACES = re.compile(r"\s+")
_NUMBERED = re.compile(r"^[a-z][a-z\-]{2,}\d$")
_GLUED = re.compile(r"\b(subsp|ssp|var|f|fo|subvar|subf)\.(?=[a-z])")  # "subsp.epigaea"
_REMARKS = re.compile(r"\(=[^)]*(?:\([^)]*\)[^)]*)*\)|\[[^\]]*\]")  # "(= other name)", "[...]"


@dataclass(frozen=True)
class ParsedName:
    """A name split into its parts; ``canonical`` is what names are compared on."""

    verbatim: str
    canonical: str
    genus: str | None = None
    epithets: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    authorship: str = ""
    hybrid: bool = False
    qualifier: str | None = None
    indeterminate: bool = False
    linnaean: bool = True
    parts: tuple[str, ...] = field(default=(), repr=False)


def _clean(name: str) -> str:
    text = unicodedata.normalize("NFC", name).replace("\u00a0", " ")
    text = _REMARKS.sub(" ", text)
    text = _GLUED.sub(r"\1. ", text)
    text = text.replace(HYBRID_SIGN, f" {HYBRID_SIGN} ")
    return _SPACES.sub(" ", text).strip()


def _is_hybrid_x(tok: str) -> bool:
    return tok in (HYBRID_SIGN, "x", "X")


def parse_name(name: str) -> ParsedName:
    """Split ``name`` into genus, epithets, rank markers and authorship (see canonical_name)."""
    text = _clean(name)
    tokens = text.split(" ") if text else []
    letters = [c for c in text if c.isalpha()]
    if letters and all(c.isupper() for c in letters if c != HYBRID_SIGN) and len(letters) > 1:
        tokens = [t.lower() if t not in ("X",) else t for t in tokens]
    elif tokens and len(tokens[0]) > 1 and tokens[0].isalpha() and tokens[0].isupper():
        # "ALLIARIA PETIOLATA (M.Bieb.) Cavara": capitals up to the authorship
        lead = 0
        while lead < len(tokens) and tokens[lead].replace("-", "").isalpha() and (
            tokens[lead].isupper()
        ):
            lead += 1
        tokens = [t.lower() for t in tokens[:lead]] + tokens[lead:]
    hybrid = False
    if tokens and re.match(r"^x[A-Z][a-z]", tokens[0]):
        tokens = [HYBRID_SIGN, tokens[0][1:], *tokens[1:]]  # "xFestulolium"
    if tokens and _is_hybrid_x(tokens[0]) and len(tokens) > 1 and _GENUS.match(tokens[1]):
        hybrid = True  # "× Festulolium", "x Festulolium": a nothogenus
        tokens = tokens[1:]
    head = tokens[0] if tokens else ""
    if not _GENUS.match(head) or head.lower() in NOT_LINNAEAN_HEADS:
        return ParsedName(verbatim=name, canonical=text, linnaean=False)
    genus = head[:1].upper() + head[1:].lower()
    parts: list[str] = [genus]
    epithets: list[str] = []
    markers: list[str] = []
    author: list[str] = []
    qualifier: str | None = None
    indeterminate = False
    pending_marker = False  # a rank marker was read; the next lower-case word is its epithet
    in_author = False
    i = 1
    while i < len(tokens):
        tok = tokens[i]
        low = tok.lower()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if i == 1 and _SUBGENUS.match(tok) and _LOWER_WORD.match(nxt):
            i += 1  # zoological subgenus "Aedes (Stegomyia) aegypti" is not part of the name
            continue
        if low in INDETERMINATE and not pending_marker:
            indeterminate = True  # "Carex sp.", "Erigeron sp. Santiago 9/5/00": genus only
            author.extend(tokens[i:])
            break
        if low in QUALIFIERS and not in_author and not epithets:
            qualifier = low if low.endswith(".") or low == "?" else f"{low}."
        elif low in MARKERS and _LOWER_WORD.match(nxt) and nxt not in PARTICLES and epithets:
            if low == "f." and in_author and not _looks_like_epithet_end(tokens, i + 1):
                author.append(tok)  # "L. f." = filius, part of the authorship
            else:
                markers.append(MARKERS[low])
                parts.append(MARKERS[low])
                pending_marker = True
                in_author = False
                if low.startswith("notho"):
                    hybrid = True
        elif _is_hybrid_x(tok) and not in_author and _LOWER_WORD.match(nxt) and not epithets:
            hybrid = True  # "Mentha x piperita", "Mentha × piperita"
            parts.append(HYBRID_SIGN)
        elif _is_hybrid_x(tok) and not in_author and epithets and (
            _GENUS.match(nxt) or _LOWER_WORD.match(nxt)
        ):
            rest = tokens[i + 1 :]
            if _LOWER_WORD.match(nxt):
                rest = [genus, *rest]  # "Clermontia kakeana x micrantha": same genus implied
            other = parse_name(" ".join(rest))  # formula hybrid "A b × C d"
            base = " ".join(parts)
            return ParsedName(
                verbatim=name, canonical=f"{base} {HYBRID_SIGN} {other.canonical}", genus=genus,
                epithets=tuple(epithets), markers=tuple(markers), hybrid=True,
                qualifier=qualifier, authorship=" ".join(author), parts=tuple(parts),
            )
        elif (
            not in_author
            and _LOWER_WORD.match(tok)
            and low not in PARTICLES
            and (pending_marker or (len(epithets) < 2 and not markers))
        ):
            epithets.append(low)
            parts.append(low)
            pending_marker = False
        elif not in_author and _NUMBERED.match(tok) and not epithets:
            epithets.append(tok.rstrip("0123456789"))  # NCBI "Petalacte coronata1"
            parts.append(epithets[-1])
            pending_marker = False
        else:
            in_author = True
            author.append(tok)
        i += 1
    if indeterminate:
        parts, epithets, markers = [genus], [], []
    if hybrid and len(parts) == 1:
        parts = [HYBRID_SIGN, genus]
    return ParsedName(
        verbatim=name, canonical=" ".join(parts), genus=genus, epithets=tuple(epithets),
        markers=tuple(markers), authorship=" ".join(author), hybrid=hybrid, qualifier=qualifier,
        indeterminate=indeterminate, parts=tuple(parts),
    )


def _looks_like_epithet_end(tokens: list[str], j: int) -> bool:
    """True if tokens[j] is an epithet ending the name or followed by authorship."""
    if j >= len(tokens) or not _LOWER_WORD.match(tokens[j]):
        return False
    after = tokens[j + 1] if j + 1 < len(tokens) else ""
    return after == "" or after[:1].isupper() or after.startswith("(")


def canonical_name(name: str) -> str:
    """Canonical form of a scientific name, the key names are matched on.

    Rules (after GBIF's name parser / TaxonMap):

    * whitespace collapsed, Unicode NFC; capitals (the whole name, or the words before a
      mixed-case authorship) are read as lower case;
    * genus (or uninomial) capitalised, epithets lower case: "ECHIUM  VULGARE" -> "Echium vulgare";
    * authorship dropped: anything from the first word that cannot be an epithet (capitalised,
      abbreviated, a year, "(L.)", "&", "ex", "de" ...) up to the next rank marker, so
      "Abies alba Mill. var. alba" -> "Abies alba var. alba";
    * infraspecific markers normalised: subsp./ssp./subsp -> "subsp.", var./varietas -> "var.",
      f./fo./forma -> "f."; a zoological trinomial without marker is kept as three words;
    * hybrids keep the sign, written "×": "Mentha x piperita" -> "Mentha × piperita",
      "xFestulolium" -> "× Festulolium", formulae "A b x C d" -> "A b × C d", and
      "A b x c" -> "A b × A c";
    * a marker glued to its epithet is split ("subsp.epigaea"); a single digit glued to an
      epithet (NCBI's "Petalacte coronata1") is dropped;
    * "sp."/"spp." make the name indeterminate: the genus alone is returned;
    * "cf."/"aff." qualifiers are dropped, genus and epithet kept;
    * a zoological subgenus in parentheses after the genus is dropped, and so are remarks
      "(= other name)" and anything in square brackets;
    * names that are not Linnaean (BOLD BINs "BOLD:AAF9225", "unclassified Asterales") are
      returned with whitespace collapsed but otherwise unchanged; see ``is_linnaean``.
    """
    return parse_name(name).canonical


def match_key(name: str) -> str:
    """Key a taxonomy's own name is indexed under: its canonical name, except that names
    qualified ("aff.", "cf.") or indeterminate ("Carex sp. PI 4261") keep their full spelling,
    so they never pose as the species or genus they mention (which would make it ambiguous).
    """
    parsed = parse_name(name)
    if parsed.qualifier is not None or parsed.indeterminate:
        return " ".join(name.split())
    return parsed.canonical


def is_linnaean(name: str) -> bool:
    """False for BOLD BINs, container names and other strings with no genus to parse."""
    return parse_name(name).linnaean


def is_hybrid(name: str, rank: str | None = None) -> bool:
    """True for hybrid names or ranks: ×/x between epithets, notho- ranks or markers."""
    norm = normalise_rank(rank)
    if norm is not None and (norm in HYBRID_RANKS or norm.startswith("notho")):
        return True
    return parse_name(name).hybrid

"""A source's local names, through the name harmonisation: each name of a source's ``names``
file (CSV ``taxon,local_name``) mapped onto the family's taxa as the ingest maps a source's
names (:class:`~fieldguide.taxonomy.harmonise.NameMatcher`: exact, canonical, synonym, then a
guarded fuzzy match), so a file may name a class (``daisy``), its scientific name
(``Bellis perennis``, even misspelt within one letter) or any taxon of the classes' lineage
(``Asteraceae``). A name that fits no taxon, or fits several, is refused in one line with the
closest known names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from fieldguide.errors import InputError
from fieldguide.inputs.tables import read_columns


def _matcher(classes: Sequence[str], lineage: Mapping[str, Mapping[str, str]]
             ) -> tuple[object, list[str]]:
    """A matcher over the classes and the taxa of their lineage (a class's species name is
    a synonym of the class: identification names the class), and each taxon's name."""
    from fieldguide.taxonomy.harmonise import NameMatcher
    from fieldguide.taxonomy.tree import Taxonomy

    names: list[str] = list(classes)
    ranks: list[str | None] = [None] * len(classes)
    synonyms: list[tuple[str, int]] = []
    seen = set(names)
    for i, c in enumerate(classes):
        for rank, name in lineage.get(c, {}).items():
            if rank == "species" and name != c:
                synonyms.append((name, i))
            elif name and name not in seen:
                seen.add(name)
                names.append(name)
                ranks.append(rank)
    taxonomy = Taxonomy.from_parents(range(len(names)), [-1] * len(names), names, ranks)
    return NameMatcher(taxonomy, synonyms), names


def read_local_names(path: Path, classes: Sequence[str],
                     lineage: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """``path``'s local names by the family's taxon they name (a class, or a taxon of the
    classes' lineage); see the module."""
    from fieldguide.identification.checklist import did_you_mean
    from fieldguide.taxonomy.harmonise import NameMatcher

    cols = read_columns(path, what="local names")
    for needed in ("taxon", "local_name"):
        if needed not in cols:
            raise InputError(f"missing column {needed!r} (a names file is taxon,local_name)",
                             path=path, field=needed)
    matcher, names = _matcher(classes, lineage)
    assert isinstance(matcher, NameMatcher)
    known = [*names, *(n for c in classes for r, n in lineage.get(c, {}).items()
                       if r == "species")]
    out: dict[str, str] = {}
    for i, (taxon, local) in enumerate(zip(cols["taxon"], cols["local_name"], strict=True)):
        line = i + 2
        taxon, local = str(taxon or "").strip(), str(local or "").strip()
        if not taxon or not local:
            raise InputError("a row needs a taxon and its local name", path=path, line=line,
                             field="local_name" if taxon else "taxon")
        match = matcher.match_one(taxon)
        if match.taxon_id is None:
            why = "fits several taxa" if match.method == "ambiguous" else "is not a taxon"
            raise InputError(f"{taxon!r} {why} of the family{did_you_mean(taxon, known)}",
                             path=path, line=line, field="taxon")
        name = names[match.taxon_id]
        if out.get(name, local) != local:
            raise InputError(f"two local names for {name!r}: {out[name]!r} and {local!r}",
                             path=path, line=line, field="local_name")
        out[name] = local
    return out

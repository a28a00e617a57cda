"""Names the index knows, from the model card's lineage: each class and every coarser taxon
its lineage names, with its rank and ancestors.

Subtree questions ("is this photo's label inside Asteraceae?", "which classes roll up to
Bellis?") are answered from this one table, so ``similar --taxon`` and ``candidates`` agree on
what a subtree is. A label the lineage does not name (a typo, a taxon outside the model) is
still a label: it has no rank and lies in no subtree but its own.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fieldguide.errors import InputError
from fieldguide.taxonomy.ranks import MAIN_RANKS_FINEST_FIRST


@dataclass(frozen=True)
class Taxa:
    """``rank[name]`` and ``ancestors[name]`` ({rank: name}, coarser ranks only) of every name
    the lineage mentions; ``classes`` in model output order."""

    classes: tuple[str, ...]
    rank: dict[str, str]
    ancestors: dict[str, dict[str, str]]

    @classmethod
    def from_lineage(cls, classes: Sequence[str],
                     lineage: Mapping[str, Mapping[str, str]]) -> Taxa:
        rank: dict[str, str] = {}
        ancestors: dict[str, dict[str, str]] = {}
        for c in classes:
            chain = {"species": c, **{r: n for r, n in lineage.get(c, {}).items()
                                      if r != "species"}}
            for i, r in enumerate(MAIN_RANKS_FINEST_FIRST):
                name = chain.get(r)
                if name is None or name in rank:
                    continue  # a name at two ranks keeps its finest
                rank[name] = r
                coarser = MAIN_RANKS_FINEST_FIRST[i + 1:]
                ancestors[name] = {a: chain[a] for a in coarser if a in chain}
        return cls(tuple(classes), rank, ancestors)

    def resolve(self, name: str) -> tuple[str, str]:
        """(name, rank) of a taxon given by a person; an unknown name is refused with the
        closest names the model knows, so a typo is one short error."""
        key = name.strip()
        if key in self.rank:
            return key, self.rank[key]
        folded = {n.casefold(): n for n in self.rank}
        if key.casefold() in folded:
            hit = folded[key.casefold()]
            return hit, self.rank[hit]
        close = difflib.get_close_matches(key, list(self.rank), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise InputError(f"unknown taxon {name!r}: the model's lineage does not name it{hint}",
                         field="taxon")

    def within(self, name: str, taxon: str) -> bool:
        """``name`` is ``taxon`` or lies below it."""
        if name == taxon:
            return True
        r = self.rank.get(taxon)
        return r is not None and self.ancestors.get(name, {}).get(r) == taxon

    def label_mask(self, labels: Sequence[str], taxon: str) -> np.ndarray:
        """Which of the (distinct) ``labels`` lie in ``taxon``'s subtree."""
        return np.array([self.within(lab, taxon) for lab in labels], dtype=bool)

    def class_mask(self, taxon: str) -> np.ndarray:
        """(K,) the model's classes that roll up to ``taxon``."""
        return self.label_mask(self.classes, taxon)

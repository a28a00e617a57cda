"""Restricting answers to a checklist or a clade ("insects only", a regional checklist):
``identify --taxa FILE`` / ``--within TAXON`` and the service's ``taxa`` / ``within`` fields.

Names are the model's: its classes and every taxon their lineage names. A restriction keeps
the classes that are, or lie below, one of its names; the
:class:`~fieldguide.identification.posterior.Subtree` it becomes zeroes the rest,
renormalises, and reports the probability that was outside (``mass_outside``). A regional
checklist names many taxa a model does not know, so its unknown names are skipped and
counted; a checklist with no name the model knows is refused, with the closest known names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.posterior import Subtree
from fieldguide.inputs.text import no_nul, read_lines


def known_names(classes: Sequence[str], lineage: Mapping[str, Mapping[str, str]]
                ) -> set[str]:
    """The classes and every taxon of their lineage."""
    names = set(classes)
    for c in classes:
        names.update(n for n in lineage.get(c, {}).values() if n)
    return names


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known names (case ignored), else ""."""
    folded = {k.casefold(): k for k in known}
    close = difflib.get_close_matches(name.casefold(), sorted(folded), n=3, cutoff=0.6)
    return (f" (did you mean {' or '.join(repr(folded[c]) for c in close)}?)"
            if close else "")


def resolve(name: str, known: Iterable[str], field: str = "--within",
            path: Path | None = None, line: int | None = None) -> str:
    """A name as the model spells it (exact, else ignoring case); an unknown name is
    refused in one line with the closest known names."""
    known = set(known)
    key = name.strip()
    if key in known:
        return key
    folded = {k.casefold(): k for k in known}
    if key.casefold() in folded:
        return folded[key.casefold()]
    raise InputError(f"unknown taxon {key!r}: not a class of the model nor in their lineage"
                     f"{did_you_mean(key, known)}", path=path, line=line, field=field)


def read_names(path: Path, known: Iterable[str], *, what: str = "checklist",
               strict: bool = True) -> list[str]:
    """The names of a file (one per line; blank lines and ``#`` comments skipped), as the
    model spells them. ``strict``: an unknown name is refused (file, line); otherwise
    unknown names are skipped, and a file with no known name is refused."""
    known = set(known)
    found: list[str] = []
    unknown: list[tuple[int, str]] = []
    for i, raw in enumerate(read_lines(path, what=what), start=1):
        name = no_nul(raw, path, i).split("#", 1)[0].strip()
        if not name:
            continue
        try:
            found.append(resolve(name, known, field=what, path=path, line=i))
        except InputError:
            if strict:
                raise
            unknown.append((i, name))
    if not found:
        if unknown:
            line, name = unknown[0]
            raise InputError(f"no name in the {what} is a class of the model or in their "
                             f"lineage (first: {name!r}{did_you_mean(name, known)})",
                             path=path, line=line, field=what)
        raise InputError(f"the {what} names no taxon", path=path, field=what)
    return list(dict.fromkeys(found))


def within_mask(names: Iterable[str], classes: Sequence[str],
                lineage: Mapping[str, Mapping[str, str]]) -> np.ndarray:
    """(K,) the classes that are, or lie below, any of ``names``."""
    wanted = set(names)
    return np.array([c in wanted or bool(wanted & set(lineage.get(c, {}).values()))
                     for c in classes], dtype=bool)


def restriction(names: Sequence[str], classes: Sequence[str],
                lineage: Mapping[str, Mapping[str, str]], label: str) -> Subtree:
    """The filter keeping the classes within ``names`` (``label`` names it in provenance)."""
    return Subtree(within_mask(names, classes, lineage), label)

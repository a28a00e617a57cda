"""Replacing one member of a family while it is served.

The new member (a heads-only model folder with the same classes) is copied beside the old
one under a new folder name, then ``family.json`` is rewritten atomically to point at it; the
old files stay, so a reader that opened the old card still finds them. A running service
picks the new member up with :meth:`~fieldguide.family.model.FamilyModel.reload`.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from fieldguide.errors import InputError
from fieldguide.family.card import (
    FamilyCard,
    member_identity,
    read_family_card,
    with_member,
    write_family_card,
)
from fieldguide.models.card import read_card


def replace_member(family: str | Path, name: str, new: str | Path,
                   release_notes: str = "") -> FamilyCard:
    """Put the model folder ``new`` in place of member ``name``; returns the new card."""
    family, new = Path(family), Path(new)
    card = read_family_card(family)
    old = card.member(name)
    incoming = read_card(new)
    if tuple(incoming.classes) != old.classes:
        raise InputError(f"the new model's classes differ from member {name!r}'s", path=new,
                         field="classes")
    if not (new / (incoming.onnx or "model.onnx")).is_file():
        raise InputError("the new model has no ONNX file", path=new)
    rel = f"members/{name}.{incoming.version}"
    target = family / rel
    if target.exists():
        raise InputError(f"member {name!r} version {incoming.version} is already in the "
                         "family", path=target)
    staging = family / "members" / f".{name}.{incoming.version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(new, staging)
    staging.rename(target)
    member = replace(old, folder=rel, version=incoming.version,
                     sha256=member_identity(family, rel), metrics=incoming.metrics,
                     release_notes=release_notes or old.release_notes)
    updated = with_member(card, member)
    write_family_card(updated, family)
    return updated

"""The family card: the one reader and writer of ``family.json``.

A family folder holds ``family.json``, the shared encoder (``encoder.onnx``: photos to
embedding vectors, one pass per photo) and one heads-only model folder per member under
``members/`` (``model.json`` + ``model.onnx`` taking ``embedding``, read by the model card
module as any model), and the family's rejection (``rejection.npz``, fitted on the family's
answers for its validation photos). The card lists every member with its identity (folder,
version, the sha256 of its ONNX file), role (``main``: which group; ``group``: the taxa of
one group; ``trait``: a trait's values, e.g. the life stage, for one group's photos), group,
source (``None``: shared), classes, metrics, release notes and, for a trait member, the
trait's column; and each source's local names (``local_names``: taxon to name). Replacing a member
rewrites this file atomically, so a reader sees the old family or the new one, never half.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from fieldguide.errors import InputError
from fieldguide.inputs.files import file_sha256, write_text_atomic
from fieldguide.models.card import FILE as MODEL_FILE
from fieldguide.models.card import Preprocessing, card_json, clean_lineage

FORMAT = "fieldguide-family/1"
FILE = "family.json"
ROLES = ("main", "group", "trait")


@dataclass(frozen=True)
class Member:
    """One model of the family (see the module)."""

    name: str
    role: str
    folder: str
    version: str
    sha256: str
    classes: tuple[str, ...]
    group: str | None = None
    source: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    release_notes: str = ""
    column: str | None = None  # a trait member's column (what identify writes)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "classes": list(self.classes)}


@dataclass(frozen=True)
class FamilyCard:
    """What ``family.json`` holds: the taxa (classes and lineage), the groups with their
    classes, the sources, the encoder, the members and the family's own metrics."""

    name: str
    version: str
    classes: tuple[str, ...]
    lineage: dict[str, dict[str, str]]
    groups: dict[str, tuple[str, ...]]
    sources: tuple[str, ...]
    encoder: dict[str, Any]
    preprocessing: Preprocessing
    members: tuple[Member, ...]
    metrics: dict[str, Any] = field(default_factory=dict)
    label: str = "taxon"  # the manifest column of the classes (what evaluation reads)
    #: the family's rejection (``rejection.npz`` beside the card), as a model card's
    #: ``extras["rejection"]``; None when it has none
    rejection: dict[str, Any] | None = None
    #: source -> {taxon (a class or a taxon of their lineage): the source's local name}
    local_names: dict[str, dict[str, str]] = field(default_factory=dict)

    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise InputError(f"the family has no member {name!r} (members: "
                         f"{', '.join(m.name for m in self.members)})", field="member")

    def pick(self, role: str, group: str | None, source: str | None) -> Member:
        """The member for a role and group: the source's customisation, else the shared
        one."""
        shared = None
        for m in self.members:
            if m.role == role and m.group == group:
                if m.source == source and source is not None:
                    return m
                if m.source is None:
                    shared = m
        if shared is None:
            raise InputError(f"the family has no shared {role} member for {group!r}",
                             field="members")
        return shared

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "name": self.name, "version": self.version,
                "classes": list(self.classes), "lineage": self.lineage,
                "groups": {g: list(c) for g, c in self.groups.items()},
                "sources": list(self.sources), "encoder": self.encoder,
                "preprocessing": self.preprocessing.to_dict(),
                "members": [m.to_dict() for m in self.members], "metrics": self.metrics,
                "label": self.label, "rejection": self.rejection,
                "local_names": self.local_names}


def _strings(value: Any, where: Path, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError("must be a list of names", path=where, field=key)
    return tuple(value)


def _member(d: Any, where: Path, i: int, folder: Path) -> Member:
    key = f"members[{i}]"
    if not isinstance(d, dict):
        raise InputError("must be a mapping", path=where, field=key)
    for k in ("name", "role", "folder", "version", "sha256"):
        if not isinstance(d.get(k), str) or not d[k]:
            raise InputError("must be a non-empty string", path=where, field=f"{key}.{k}")
    if d["role"] not in ROLES:
        raise InputError(f"must be one of {', '.join(ROLES)}", path=where, field=f"{key}.role")
    rel = Path(d["folder"])
    if rel.is_absolute() or ".." in rel.parts:
        raise InputError("must be a folder inside the family folder", path=where,
                         field=f"{key}.folder")
    if not (folder / rel / MODEL_FILE).is_file() or not (folder / rel / "model.onnx").is_file():
        raise InputError(f"member {d['name']!r}: missing file {rel / 'model.onnx'} or "
                         f"{rel / MODEL_FILE}", path=where, field=f"{key}.folder")
    for k in ("group", "source", "column"):
        if d.get(k) is not None and not isinstance(d[k], str):
            raise InputError("must be a name or null", path=where, field=f"{key}.{k}")
    if not isinstance(d.get("metrics", {}), dict):
        raise InputError("must be a mapping", path=where, field=f"{key}.metrics")
    if d["role"] == "trait" and not (d.get("column") and d.get("group")):
        raise InputError("a trait member names its group and column", path=where, field=key)
    return Member(d["name"], d["role"], d["folder"], d["version"], d["sha256"],
                  _strings(d.get("classes"), where, f"{key}.classes"), d.get("group"),
                  d.get("source"), d.get("metrics", {}), str(d.get("release_notes") or ""),
                  d.get("column"))


def is_family(folder: str | Path) -> bool:
    return (Path(folder) / FILE).is_file()


def read_family_card(folder: str | Path) -> FamilyCard:
    """The validated card of a family folder; every member's files must be there."""
    folder = Path(folder)
    path = folder / FILE
    if not path.is_file():
        raise InputError("not a family folder (no family.json)", path=folder)
    d = card_json(path)
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise InputError(f"not a {FORMAT} card", path=path, field="format")
    classes = _strings(d.get("classes"), path, "classes")
    groups_raw = d.get("groups")
    if not isinstance(groups_raw, dict) or not groups_raw:
        raise InputError("must map each group to its classes", path=path, field="groups")
    groups = {str(g): _strings(c, path, f"groups.{g}") for g, c in groups_raw.items()}
    lineage = d.get("lineage", {})
    if not isinstance(lineage, dict) or not all(isinstance(v, dict) for v in lineage.values()):
        raise InputError("must map each class to {rank: name}", path=path, field="lineage")
    encoder = d.get("encoder")
    if not isinstance(encoder, dict) or not isinstance(encoder.get("onnx"), str) or \
            not (folder / encoder["onnx"]).is_file():
        raise InputError("the shared encoder's ONNX file is missing", path=path,
                         field="encoder.onnx")
    members_raw = d.get("members")
    if not isinstance(members_raw, list) or not members_raw:
        raise InputError("must be a non-empty list", path=path, field="members")
    members = tuple(_member(m, path, i, folder) for i, m in enumerate(members_raw))
    if len({m.name for m in members}) != len(members):
        raise InputError("two members share a name", path=path, field="members")
    metrics = d.get("metrics", {})
    if not isinstance(metrics, dict):
        raise InputError("must be a mapping", path=path, field="metrics")
    rejection = d.get("rejection")
    if rejection is not None and not isinstance(rejection, dict):
        raise InputError("must be a mapping or null", path=path, field="rejection")
    sources = _strings(d.get("sources", []), path, "sources") if d.get("sources") else ()
    local = d.get("local_names") or {}
    if not isinstance(local, dict) or not all(
            s in sources and isinstance(v, dict) and
            all(isinstance(k, str) and isinstance(n, str) for k, n in v.items())
            for s, v in local.items()):
        raise InputError("must map each of the family's sources to {taxon: local name}",
                         path=path, field="local_names")
    return FamilyCard(str(d.get("name") or "family"), str(d.get("version") or "1"), classes,
                      {str(c): clean_lineage(v) for c, v in lineage.items()}, groups,
                      sources, encoder, Preprocessing.from_dict(d.get("preprocessing"), path),
                      members, metrics, str(d.get("label") or "taxon"), rejection, local)


def write_family_card(card: FamilyCard, folder: str | Path) -> Path:
    """(Re)write ``family.json`` atomically."""
    return write_text_atomic(Path(folder) / FILE,
                             json.dumps(card.to_dict(), indent=2, default=str) + "\n")


def member_identity(folder: Path, rel: str) -> str:
    """A member's identity: the sha256 of its ONNX file."""
    return file_sha256(folder / rel / "model.onnx")


def with_member(card: FamilyCard, member: Member) -> FamilyCard:
    """The card with ``member`` in place of the member of the same name."""
    card.member(member.name)
    return replace(card, members=tuple(member if m.name == member.name else m
                                       for m in card.members))

"""The family spec (TOML) and the pooled dataset it binds to, checked before anything is written.

A family is named by ``kind = "family"`` in a training spec. ``[groups]`` maps each group to
taxa of the study's taxonomy (any clade at any rank, or a list of them); ``[sources]`` names
the data sources and where each photo's source is read (a ``path,source`` CSV, or a manifest
column); ``[customise.<source>]`` asks for that source's customised group heads (and ``names``, its
local names: a ``taxon,local_name`` CSV harmonised onto the family's taxa);
``[traits.<name>]`` a group's trait or life-stage member (``group``, the manifest ``column``
it learns, or a ``path,<column>`` CSV ``file``). Every refusal is one
:class:`~fieldguide.errors.InputError` naming the file and the key: a group that matches no
taxon, two groups that share a class, a class in no group, a source with no training photos,
a customisation for an unknown source, a trait member of an unknown group or column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.inputs.tables import read_columns
from fieldguide.inputs.tomlfile import load_toml_spec
from fieldguide.models.card import clean_lineage
from fieldguide.taxonomy.ranks import MAIN_RANKS


@dataclass(frozen=True)
class Group:
    """One group: its name and the taxa (clades) that define it."""

    name: str
    taxa: tuple[str, ...]


@dataclass(frozen=True)
class Trait:
    """A group's trait (or life-stage) member: its name, its group, the column of labels it
    learns, and the ``path,<column>`` CSV holding them (None: the manifest)."""

    name: str
    group: str
    column: str
    file: Path | None = None


@dataclass(frozen=True)
class FamilySpec:
    """What ``fieldguide train`` reads from a family spec (paths resolved against it)."""

    path: Path
    name: str
    seed: int
    out: Path | None
    manifest: Path
    label: str
    lineage: Path
    val_fraction: float
    backbone: str
    weights: str
    l2: float
    max_iter: int
    cache: Path | None
    groups: tuple[Group, ...]
    sources: tuple[str, ...]
    source_file: Path | None
    source_column: str
    #: source -> how strongly its fine-tuned heads are held to the shared heads (their L2
    #: penalty on the distance from the shared weights, in multiples of ``l2``)
    customise: dict[str, float]
    traits: tuple[Trait, ...] = ()
    #: source -> its local names file (``taxon,local_name``)
    local_names: dict[str, Path] = field(default_factory=dict)


def is_family_spec(path: Path) -> bool:
    """Whether a TOML spec asks for a family (``kind = "family"``); a spec that cannot be
    read is not one (the training spec's reader then says why)."""
    try:
        return load_toml_spec(path, "training spec",
                              lambda table, _: table.get("kind") == "family")
    except InputError:
        return False


def _table(raw: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise InputError("must be a table", path=path, field=key)
    return value


def _number(table: dict[str, Any], key: str, default: float, low: float, high: float,
            path: Path, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not low <= value <= high:
        raise InputError(f"must be a number in [{low:g}, {high:g}]", path=path,
                         field=f"{where}.{key}")
    return float(value)


def _text(table: dict[str, Any], key: str, path: Path, where: str,
          default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise InputError("must be a non-empty string", path=path, field=f"{where}.{key}")
    return value


def load_family_spec(path: str | Path) -> FamilySpec:
    """The spec at ``path``, its keys checked (the data is checked by :func:`bind`); a
    refused key names its line."""
    return load_toml_spec(path, "family spec", _parse)


def _parse(raw: dict[str, Any], path: Path) -> FamilySpec:
    if raw.get("kind") != "family":
        raise InputError('a family spec says kind = "family"', path=path, field="kind")
    base = path.parent

    def resolve(value: str) -> Path:
        return (base / value).resolve()

    data, model = _table(raw, "data", path), _table(raw, "model", path)
    probe, groups_raw = _table(raw, "probe", path), _table(raw, "groups", path)
    sources_raw, custom_raw = _table(raw, "sources", path), _table(raw, "customise", path)
    if not groups_raw:
        raise InputError("a family needs at least one group", path=path, field="groups")
    groups = []
    for name, taxa in groups_raw.items():
        items = [taxa] if isinstance(taxa, str) else taxa
        if not isinstance(items, list) or not items or \
                not all(isinstance(t, str) and t.strip() for t in items):
            raise InputError("must be a taxon or a list of taxa", path=path,
                             field=f"groups.{name}")
        groups.append(Group(str(name), tuple(t.strip() for t in items)))
    names = sources_raw.get("names", [])
    if not isinstance(names, list) or not all(isinstance(s, str) and s for s in names) or \
            len(set(names)) != len(names):
        raise InputError("must be a list of distinct source names", path=path,
                         field="sources.names")
    traits = _traits(_table(raw, "traits", path), groups, path)
    customise: dict[str, float] = {}
    local_names: dict[str, Path] = {}
    for source, table in custom_raw.items():
        if source not in names:
            raise InputError(f"customisation for an unknown source {source!r} (sources: "
                             f"{', '.join(names) or 'none'})", path=path,
                             field=f"customise.{source}")
        if not isinstance(table, dict):
            raise InputError("must be a table", path=path, field=f"customise.{source}")
        customise[source] = _number(table, "anchor", 100, 1, 1e6, path,
                                    f"customise.{source}")
        if "names" in table:
            local_names[source] = resolve(_text(table, "names", path, f"customise.{source}"))
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError("must be an integer", path=path, field="seed")
    out = raw.get("out")
    if out is not None and not isinstance(out, str):
        raise InputError("must be a string", path=path, field="out")
    file = sources_raw.get("file")
    if file is not None and not isinstance(file, str):
        raise InputError("must be a path", path=path, field="sources.file")
    cache = probe.get("cache")
    if cache is not None and not isinstance(cache, str):
        raise InputError("must be a path", path=path, field="probe.cache")
    return FamilySpec(
        path=path, name=_text(raw, "name", path, "spec", path.stem), seed=seed,
        out=resolve(out) if out else None,
        manifest=resolve(_text(data, "manifest", path, "data")),
        label=_text(data, "label", path, "data", "taxon"),
        lineage=resolve(_text(data, "lineage", path, "data")),
        val_fraction=_number(data, "val_fraction", 0.2, 0.05, 0.5, path, "data"),
        backbone=_text(model, "backbone", path, "model"),
        weights=_text(model, "weights", path, "model", "imagenet"),
        l2=_number(probe, "l2", 1e-3, 0.0, 1e3, path, "probe"),
        max_iter=int(_number(probe, "max_iter", 300, 1, 100_000, path, "probe")),
        cache=resolve(cache) if cache else None, groups=tuple(groups),
        sources=tuple(names), source_file=resolve(file) if file else None,
        source_column=_text(sources_raw, "column", path, "sources", "source"),
        customise=customise, traits=traits, local_names=local_names)


def _traits(raw: dict[str, Any], groups: list[Group], path: Path) -> tuple[Trait, ...]:
    """``[traits.<name>]``: each a group's member learning a trait column."""
    from fieldguide.identification.checklist import did_you_mean

    names = [g.name for g in groups]
    out = []
    for name, table in raw.items():
        where = f"traits.{name}"
        if not isinstance(table, dict):
            raise InputError("must be a table (group, column)", path=path, field=where)
        if name in names or name == "main" or "@" in name or "/" in name:
            raise InputError("a trait member's name must differ from the groups' and "
                             "'main', without '@' or '/'", path=path, field=where)
        group = _text(table, "group", path, where)
        if group not in names:
            raise InputError(f"unknown group {group!r}{did_you_mean(group, names)} (groups: "
                             f"{', '.join(names)})", path=path, field=f"{where}.group")
        file = table.get("file")
        if file is not None and not isinstance(file, str):
            raise InputError("must be a path", path=path, field=f"{where}.file")
        out.append(Trait(str(name), group, _text(table, "column", path, where),
                         (path.parent / file).resolve() if file else None))
    return tuple(out)


@dataclass(frozen=True)
class FamilyData:
    """The pooled dataset bound to a spec: one row per photo, every class in one group."""

    paths: list[Path]
    labels: np.ndarray  # (n,) class index
    splits: np.ndarray  # (n,) "train" | "val" | "test" (val carved from train)
    sources: np.ndarray  # (n,) source name, "" where none
    classes: list[str]
    lineage: dict[str, dict[str, str]]
    group_of: np.ndarray  # (classes,) group index
    #: trait column -> (n,) label per photo, "" where unlabelled
    traits: dict[str, np.ndarray] = field(default_factory=dict)
    #: source -> {taxon: its local name} (harmonised onto the classes and their lineage)
    local_names: dict[str, dict[str, str]] = field(default_factory=dict)

    def rows(self, split: str, source: str | None = None,
             group: int | None = None) -> np.ndarray:
        keep = self.splits == split
        if source is not None:
            keep &= self.sources == source
        if group is not None:
            keep &= self.group_of[self.labels] == group
        return np.flatnonzero(keep)


def _read_lineage(path: Path) -> dict[str, dict[str, str]]:
    cols = read_columns(path, what="lineage")
    if "taxon" not in cols:
        raise InputError("missing column 'taxon'", path=path, field="taxon")
    ranks = [r for r in MAIN_RANKS if r in cols]
    return {str(t): clean_lineage({r: cols[r][i] for r in ranks})
            for i, t in enumerate(cols["taxon"]) if t}


def _group_of(spec: FamilySpec, classes: list[str],
              lineage: dict[str, dict[str, str]]) -> np.ndarray:
    where = spec.path
    member = np.full(len(classes), -1)
    for g, group in enumerate(spec.groups):
        hits = [i for i, c in enumerate(classes)
                if any(t == c or t in lineage.get(c, {}).values() for t in group.taxa)]
        for t in group.taxa:
            if not any(t == c or t in lineage.get(c, {}).values() for c in classes):
                raise InputError(f"taxon {t!r} matches no class of the study's taxonomy",
                                 path=where, field=f"groups.{group.name}")
        for i in hits:
            if member[i] >= 0:
                raise InputError(f"groups {spec.groups[member[i]].name!r} and {group.name!r} "
                                 f"overlap (both hold {classes[i]!r})", path=where,
                                 field=f"groups.{group.name}")
            member[i] = g
    if (member < 0).any():
        lost = classes[int(np.flatnonzero(member < 0)[0])]
        raise InputError(f"class {lost!r} is in no group", path=where, field="groups")
    return member


def bind(spec: FamilySpec) -> FamilyData:
    """Read the manifest, lineage and sources and check them against the spec."""
    cols = read_columns(spec.manifest, what="manifest")
    for needed in ("path", "split", spec.label):
        if needed not in cols:
            raise InputError(f"missing column {needed!r}", path=spec.manifest, field=needed)
    n = len(cols["path"])
    labels_text = [str(v or "") for v in cols[spec.label]]
    classes = sorted({v for v in labels_text if v})
    lineage = _read_lineage(spec.lineage)
    index = {c: i for i, c in enumerate(classes)}
    splits = np.array([str(v or "") for v in cols["split"]], dtype=object)
    bad = [i for i, s in enumerate(splits) if s not in ("train", "val", "test")]
    if bad:
        raise InputError(f"split {splits[bad[0]]!r} is not train, val or test",
                         path=spec.manifest, line=bad[0] + 2, field="split")
    rel = [str(p) for p in cols["path"]]
    if spec.source_file is not None:
        src = read_columns(spec.source_file, what="source list")
        for needed in ("path", "source"):
            if needed not in src:
                raise InputError(f"missing column {needed!r}", path=spec.source_file,
                                 field=needed)
        by_path = {str(p): str(s or "") for p, s in zip(src["path"], src["source"],
                                                        strict=True)}
        sources = np.array([by_path.get(p, "") for p in rel], dtype=object)
    elif spec.source_column in cols:
        sources = np.array([str(v or "") for v in cols[spec.source_column]], dtype=object)
    else:
        sources = np.full(n, "", dtype=object)
    labels = np.array([index.get(v, -1) for v in labels_text])
    group_of = _group_of(spec, classes, lineage)
    # one in 1/val_fraction training photos of each class and source calibrates the members
    if not (splits == "val").any():
        rng = np.random.default_rng(spec.seed)
        for c in range(len(classes)):
            for s in sorted(set(sources.tolist())):
                rows = np.flatnonzero((labels == c) & (splits == "train") & (sources == s))
                take = rng.permutation(rows)[:round(len(rows) * spec.val_fraction)]
                splits[take] = "val"
    for s in spec.sources:
        if not ((sources == s) & (splits == "train")).any():
            raise InputError(f"source {s!r} has no training photos", path=spec.source_file
                             or spec.manifest, field="sources.names")
    traits = _trait_labels(spec, cols, rel, labels, splits, group_of)
    from fieldguide.family.names import read_local_names

    local_names = {s: read_local_names(f, classes, lineage)
                   for s, f in spec.local_names.items()}
    base = spec.manifest.parent
    keep = labels >= 0
    return FamilyData([base / rel[i] for i in np.flatnonzero(keep)], labels[keep],
                      splits[keep], sources[keep], classes,
                      {c: lineage.get(c, {}) for c in classes}, group_of,
                      {c: v[keep] for c, v in traits.items()}, local_names)


def _trait_labels(spec: FamilySpec, cols: dict[str, list[Any]], rel: list[str],
                  labels: np.ndarray, splits: np.ndarray, group_of: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """Each trait member's column, per photo ("" unlabelled); a column missing from its
    table, or with under two values among its group's training photos, is refused."""
    from fieldguide.identification.checklist import did_you_mean

    out: dict[str, np.ndarray] = {}
    names = [g.name for g in spec.groups]
    for trait in spec.traits:
        where = f"traits.{trait.name}.column"
        if trait.file is not None:
            table = read_columns(trait.file, what="trait labels")
            if "path" not in table or trait.column not in table:
                missing = "path" if "path" not in table else trait.column
                raise InputError(f"missing column {missing!r}"
                                 f"{did_you_mean(missing, table)}", path=trait.file,
                                 field=where)
            by_path = {str(p): str(v or "") for p, v in zip(table["path"],
                                                            table[trait.column], strict=True)}
            values = np.array([by_path.get(p, "") for p in rel], dtype=object)
        elif trait.column in cols:
            values = np.array([str(v or "") for v in cols[trait.column]], dtype=object)
        else:
            raise InputError(f"unknown column {trait.column!r}"
                             f"{did_you_mean(trait.column, cols)} in the manifest",
                             path=spec.path, field=where)
        if trait.column in out and (out[trait.column] != values).any():
            raise InputError(f"column {trait.column!r} is read from two different tables",
                             path=spec.path, field=where)
        g = names.index(trait.group)
        rows = (labels >= 0) & (splits == "train") & (values != "")
        rows &= group_of[np.maximum(labels, 0)] == g
        if len(set(values[rows].tolist())) < 2:
            raise InputError(f"the group's training photos have under two values of "
                             f"{trait.column!r}", path=trait.file or spec.manifest,
                             field=where)
        out[trait.column] = values
    return out

"""The dataset spec: one TOML file a person can read and diff, parsed into frozen dataclasses.

Every key is checked before any work starts, in two passes. Reading the file checks what needs
no study: an unknown key, a wrong type, an impossible rule (fractions over 1, a negative
minimum) or a rank that is not in :mod:`fieldguide.taxonomy.ranks`. Binding the spec to a study
(:func:`check_against_study`, run by the build before anything is written) checks the names that
only the study can confirm: sources, vote methods with labels, traits. Either pass raises one
:class:`InputError` naming the file, the key and its line, with "did you mean" where a close
name exists. The ``[[step]]`` tables run in the order written; ``[split]`` and ``[output]`` come
last.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fieldguide.curation.rules import DERIVED_TRAITS
from fieldguide.errors import InputError
from fieldguide.registry import Registry
from fieldguide.taxonomy.ranks import MAIN_RANKS, RANK_LEVELS, normalise_rank

if TYPE_CHECKING:
    import duckdb

Problems = list[tuple[str, str]]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` for the closest of ``known``, else nothing."""
    close = difflib.get_close_matches(name, sorted(known), n=2, cutoff=0.6)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


def rank_problem(key: str, rank: str | None) -> Problems:
    """A rank key's value must be a rank of the vocabulary, spelt as the study stores ranks
    (taxa are matched by their ``rank`` column, so "Genus" or "galaxy" would match nothing)."""
    if rank is None or rank in RANK_LEVELS:
        return []
    spelt = normalise_rank(rank)
    hint = (f"did you mean {spelt!r}? " if spelt in RANK_LEVELS
            else did_you_mean(rank.lower(), RANK_LEVELS))
    return [(key, f"{key} = {rank!r} is not a rank ({hint}ranks: {', '.join(MAIN_RANKS)}, "
                  "or one between them such as subfamily or tribe)")]


@dataclass(frozen=True)
class StudyFacts:
    """The names a study holds that a spec may use, read once before a build
    (:func:`fieldguide.curation.steps.study_facts`): the observations' sources, the vote
    methods with labels, and the traits (the ``traits`` table's names, and ``life_stage``
    when an observation has one)."""

    sources: frozenset[str] = frozenset()
    label_methods: frozenset[str] = frozenset()
    traits: frozenset[str] = frozenset()


def _absent(key: str, what: str, name: str, known: Iterable[str]) -> Problems:
    names = sorted(known)
    listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "") if names else "none"
    return [(key, f"the study has no {what} {name!r} ({did_you_mean(name, names)}"
                  f"it has: {listed})")]


@dataclass(frozen=True)
class Rule:
    """Base of a ``[[step]]`` rule: a frozen dataclass whose fields are the step's keys
    (bool, int, float, str, a tuple of str or a Literal; the spec reader checks the types).

    A rule says what no data could satisfy in :meth:`problems` (checked on reading), what the
    study must hold for it in :meth:`study_problems` (checked when the build starts) and
    does its work in :meth:`apply`, as SQL over the working table ``fg_ds`` of
    :mod:`fieldguide.curation.steps` (one row per candidate photo), returning notes for the
    report. A new rule is one such class plus one line in :data:`RULES`.
    """

    def problems(self) -> Problems:
        """(key, reason) for each impossible value; by default: no negative number."""
        bad: Problems = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                bad.append((f.name, f"{f.name} = {value} must not be negative"))
        return bad

    def study_problems(self, facts: StudyFacts) -> Problems:
        """(key, reason) for each name the study does not have; by default none is checked."""
        return []

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        """Keep what the rule keeps in ``fg_ds``; return notes for the report."""
        raise NotImplementedError


@dataclass(frozen=True)
class Sources(Rule):
    """Keep observations from these sources only (as the study names them: inaturalist, gbif,
    folder, votes...): which of the pooled sources a dataset is built from."""

    keep: tuple[str, ...] = ()

    def problems(self) -> Problems:
        bad = super().problems()
        if not self.keep:
            bad.append(("keep", "sources needs the sources to keep, e.g. keep = [\"inaturalist\"]"))
        return bad

    def study_problems(self, facts: StudyFacts) -> Problems:
        return [p for name in self.keep if name not in facts.sources
                for p in _absent("keep", "source", name, facts.sources)]

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import fieldguide.curation.steps as steps

        return steps.sources(con, self.keep)


@dataclass(frozen=True)
class Licences(Rule):
    """Keep photos whose licence (the photo's, else its observation's) is one of these codes,
    compared case-blind (e.g. cc0, cc-by, cc-by-nc): a dataset meant for publication or reuse
    can only be built from photos whose licence allows it."""

    keep: tuple[str, ...] = ()

    def problems(self) -> Problems:
        bad = super().problems()
        if not self.keep:
            bad.append(("keep", "licences needs the licence codes to keep, e.g. keep = "
                                "[\"cc0\", \"cc-by\"]"))
        return bad

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import fieldguide.curation.steps as steps

        return steps.licences(con, self.keep)


@dataclass(frozen=True)
class Validated(Rule):
    """Keep observations whose label is validated: by an aggregation method's rows in
    ``labels`` (its taxon becomes the observation's), or by iNaturalist quality grade."""

    method: str | None = None
    quality_grade: tuple[str, ...] = ()

    def problems(self) -> Problems:
        bad = super().problems()
        if (self.method is None) == (not self.quality_grade):
            bad.append(("method", "validated needs exactly one of method, quality_grade"))
        return bad

    def study_problems(self, facts: StudyFacts) -> Problems:
        if self.method is None or self.method in facts.label_methods:
            return []
        return _absent("method", "labels by method", self.method, facts.label_methods)

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import fieldguide.curation.steps as steps

        return steps.validated(con, self.method, self.quality_grade)


@dataclass(frozen=True)
class ExcludeHybrids(Rule):
    """Drop observations of hybrid taxa (iNaturalist export rule, seed 001)."""

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import fieldguide.curation.steps as steps

        return steps.exclude_hybrids(con)


@dataclass(frozen=True)
class Taxonomy(Rule):
    """Map names onto one taxonomy: synonyms to accepted taxa, same-name taxa from several
    sources to one, and (with ``rank``) every taxon to its ancestor at that rank; observations
    identified only above ``rank`` are dropped, so classes are mutually exclusive leaves."""

    rank: str | None = "species"
    merge_names: bool = True

    def problems(self) -> Problems:
        return super().problems() + rank_problem("rank", self.rank)

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import fieldguide.curation.steps as steps

        return steps.taxonomy(con, self.rank, self.merge_names)


@dataclass(frozen=True)
class SelectTaxa(Rule):
    """Taxon selection: iNaturalist export >= 100 photos; iNat2017 >= 20 observations from
    >= 20 observers. Rare taxa are dropped or rolled up to their ancestor at ``rollup_rank``."""

    min_photos: int = 0
    min_observations: int = 0
    min_observers: int = 0
    rare: Literal["drop", "rollup"] = "drop"
    rollup_rank: str = "genus"

    def problems(self) -> Problems:
        return super().problems() + rank_problem("rollup_rank", self.rollup_rank)

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import fieldguide.curation.steps as steps

        return steps.select_taxa(con, self.min_photos, self.min_observations,
                                 self.min_observers, self.rare, self.rollup_rank)


@dataclass(frozen=True)
class PhotosPerObservation(Rule):
    """At most ``max`` photos per observation, by position (iNaturalist export: 5)."""

    max: int = 5

    def problems(self) -> Problems:
        bad = super().problems()
        if self.max < 1:
            bad.append(("max", f"max = {self.max}: keep at least one photo"))
        return bad

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import fieldguide.curation.steps as steps

        return steps.photos_per_observation(con, self.max)


@dataclass(frozen=True)
class PhotosPerTaxon(Rule):
    """Cap photos per taxon, first photos of observations first, then spread over observers,
    places and dates (round-robin), so the cap keeps as many observations as it can."""

    max: int = 1000
    cell_degrees: float = 1.0

    def problems(self) -> Problems:
        bad = super().problems()
        if self.max < 1:
            bad.append(("max", f"max = {self.max}: keep at least one photo"))
        if not 0 < self.cell_degrees <= 180:
            bad.append(("cell_degrees", f"cell_degrees = {self.cell_degrees} must be in (0, 180]"))
        return bad

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import fieldguide.curation.steps as steps

        return steps.photos_per_taxon(con, self.max, self.cell_degrees, seed)


@dataclass(frozen=True)
class Temporal(Rule):
    """Seed 000's de-biasing: keep every observation before ``cutoff_year``, sample a
    ``later_fraction`` of each later year, cap the latest year at the year before's count."""

    cutoff_year: int = 2017
    later_fraction: float = 0.5
    cap_last_year: bool = True
    per_taxon: bool = True

    def problems(self) -> Problems:
        bad = super().problems()
        if self.later_fraction > 1:
            bad.append(("later_fraction", "later_fraction must be in [0, 1]"))
        return bad

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import fieldguide.curation.steps as steps

        return steps.temporal(con, self.cutoff_year, self.later_fraction,
                              self.cap_last_year, self.per_taxon, seed)


@dataclass(frozen=True)
class GenusSubsample(Rule):
    """Pl@ntNet-300K: sample genera (a number or a fraction) and keep all their species, so
    intra-genus ambiguity and the long tail survive the subsampling."""

    genera: int | None = None
    fraction: float | None = None
    rank: str = "genus"

    def problems(self) -> Problems:
        bad = super().problems()
        if (self.genera is None) == (self.fraction is None):
            bad.append(("genera", "genus_subsample needs exactly one of genera, fraction"))
        elif self.fraction is not None and not 0 < self.fraction <= 1:
            bad.append(("fraction", "fraction must be in (0, 1]"))
        elif self.genera is not None and self.genera < 1:
            bad.append(("genera", f"genera = {self.genera}: keep at least one"))
        return bad + rank_problem("rank", self.rank)

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import fieldguide.curation.steps as steps

        return steps.genus_subsample(con, self.genera, self.fraction, self.rank, seed)


@dataclass(frozen=True)
class Duplicates(Rule):
    """Exact (content hash) and near (dHash) duplicates among photos with a local file."""

    exact: bool = True
    near: bool = True
    max_distance: int = 4
    drop: bool = True
    missing: Literal["report", "drop", "error"] = "report"

    def problems(self) -> Problems:
        bad = super().problems()
        if self.max_distance > 16:
            bad.append(("max_distance", "max_distance over 16 bits of 64 is not 'near'"))
        if not (self.exact or self.near):
            bad.append(("near", "duplicates with exact = false and near = false finds nothing"))
        return bad

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        from fieldguide.curation.dedup import find_duplicates

        return find_duplicates(con, exact=self.exact, near=self.near,
                               max_distance=self.max_distance, drop=self.drop,
                               missing=self.missing).notes()


@dataclass(frozen=True)
class TraitLabelled(Rule):
    """Keep photos whose ``trait`` is labelled (the photo's own value, else its observation's,
    as the manifest reads them; ``life_stage`` is the observation's column), and with
    ``values`` only those labelled one of them: the photos a trait head can learn from."""

    trait: str = ""
    values: tuple[str, ...] = ()

    def problems(self) -> Problems:
        bad = super().problems()
        if not self.trait.strip():
            bad.append(("trait", "trait_labelled needs the trait to keep, e.g. trait = "
                                 "\"open_flowers\""))
        return bad

    def study_problems(self, facts: StudyFacts) -> Problems:
        if self.trait in facts.traits:
            return []
        return _absent("trait", "trait", self.trait, facts.traits)

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import fieldguide.curation.steps as steps

        return steps.trait_labelled(con, self.trait, self.values)


_S = "fieldguide.curation.spec"
#: The ``[[step]]`` rules by name (plug-ins: entry point group ``fieldguide.rules``).
RULES: Registry[type[Rule]] = Registry("rules", "rule", [
    ("sources", f"{_S}:Sources", "Keep observations from these sources only."),
    ("licences", f"{_S}:Licences", "Keep photos whose licence is one of these codes."),
    ("validated", f"{_S}:Validated",
     "Keep observations whose label is validated (by a vote method or quality grade)."),
    ("exclude_hybrids", f"{_S}:ExcludeHybrids", "Drop observations of hybrid taxa."),
    ("taxonomy", f"{_S}:Taxonomy",
     "Map synonyms and same-name taxa to one taxon, and taxa to their ancestor at a rank."),
    ("select_taxa", f"{_S}:SelectTaxa",
     "Keep taxa with enough photos, observations and observers; drop or roll up the rest."),
    ("photos_per_observation", f"{_S}:PhotosPerObservation",
     "At most this many photos per observation."),
    ("photos_per_taxon", f"{_S}:PhotosPerTaxon",
     "Cap photos per taxon, spread over observers, places and dates."),
    ("temporal", f"{_S}:Temporal", "De-bias the years: sample later years, cap the latest."),
    ("genus_subsample", f"{_S}:GenusSubsample",
     "Sample genera and keep all their species."),
    ("duplicates", f"{_S}:Duplicates", "Find (and drop) exact and near duplicate photos."),
    ("trait_labelled", f"{_S}:TraitLabelled", "Keep photos labelled for a trait."),
    ("label_noise", "fieldguide.curation.label_noise:LabelNoise",
     "Send photos ranked as likely mislabelled (dataset noise) to review, or drop them."),
    ("anomalies", "fieldguide.curation.anomalies:Anomalies",
     "Send observations unexpected at their place and date (prior anomalies) to review, "
     "or drop them."),
], field="rule")


@dataclass(frozen=True)
class Split:
    """random: stratified per taxon by observation (seed 000: 80/20); inat2017: observer-
    disjoint (seed 003 section 3.2); source: the photos' own split, with a ``val`` share of the
    source's train photos held out per taxon when ``val`` > 0 (for calibration); none: all
    train."""

    method: Literal["random", "inat2017", "source", "none"] = "random"
    train: float = 0.8
    val: float = 0.0
    test: float = 0.2
    test_observers: float = 0.4
    val_max_photos: int = 30
    val_fraction: float = 0.33


@dataclass(frozen=True)
class Output:
    """What the manifest carries besides ids and taxa: derived traits (phenology2,
    phenology4), observation columns (life_stage) or any raw trait name; and the file formats."""

    traits: tuple[str, ...] = ()
    formats: tuple[str, ...] = ("parquet", "csv")
    superclass_rank: str | None = None
    plots: bool = True


@dataclass(frozen=True)
class DatasetSpec:
    """A whole spec: steps in the order written, then the split and the output; ``source``
    is the file it was read from (for error messages and the dataset's log)."""

    name: str
    seed: int = 0
    description: str = ""
    steps: tuple[Rule, ...] = ()
    split: Split = field(default_factory=Split)
    output: Output = field(default_factory=Output)
    source: str | None = None
    #: the file's text, kept to find the line of a key the study refuses (not in the log)
    text: str = field(default="", repr=False, compare=False)


def load_spec(path: str | Path) -> DatasetSpec:
    """Read and check a spec file (see docs/curation.md for the format). It is read through
    ``fieldguide.inputs``: a regular file, UTF-8, the first bad byte located."""
    from fieldguide.inputs import read_text

    path = Path(path)
    text = read_text(path, what="spec file", max_bytes=2**20)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=path) from None
    return parse_spec(data, text=text, source=str(path))


def parse_spec(data: dict[str, Any], *, text: str = "", source: str | None = None) -> DatasetSpec:
    """A spec from parsed TOML; ``text`` is only used to find line numbers for errors."""

    def fail(key: str, reason: str, section: str | None = None) -> InputError:
        shown = key if key.isprintable() else repr(key)[1:-1]  # a key with a line break
        return InputError(reason, path=source, line=_line_of(text, key, section), field=shown)

    allowed = {"name", "seed", "description", "step", "split", "output"}
    for key in data:
        if key not in allowed:
            raise fail(key, f"unknown key; expected one of {', '.join(sorted(allowed))}")
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise fail("name", "the dataset needs a name (a non-empty string)")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise fail("seed", "must be an integer")
    raw_steps = data.get("step", [])
    if not isinstance(raw_steps, list):
        raise fail("step", "write steps as [[step]] tables")
    steps: list[Rule] = []
    for i, raw in enumerate(raw_steps):
        rule = raw.get("rule") if isinstance(raw, dict) else None
        if rule not in RULES:
            raise fail("rule", f"step {i + 1}: {RULES.unknown(rule).reason}", f"[[step]]#{i}")
        cls = guarded_rule(str(rule))
        values = {k: v for k, v in raw.items() if k != "rule"}
        steps.append(_build(cls, values, fail, f"step {i + 1} ({rule})", f"[[step]]#{i}"))
    split = _build(Split, data.get("split", {}), fail, "[split]", "[split]")
    output = _build(Output, data.get("output", {}), fail, "[output]", "[output]")
    spec = DatasetSpec(
        name=data["name"].strip(),
        seed=seed,
        description=str(data.get("description", "")),
        steps=tuple(steps),
        split=split,
        output=output,
        source=source,
        text=text,
    )
    for key, reason, section in _impossible(spec):
        raise fail(key, reason, section)
    return spec


def _build(cls: type[Any], values: Any, fail: Any, where: str, section: str) -> Any:
    if not isinstance(values, dict):
        raise fail(where, f"{where} must be a table", section)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in names:
            known = ", ".join(names) or "no keys"
            raise fail(key, f"{where}: unknown key {key!r}; known: {known}", section)
        out[key] = _coerce(value, hints[key], lambda r, k=key: fail(k, f"{where}: {r}", section))
    return cls(**out)


def _coerce(value: Any, hint: Any, fail: Any) -> Any:
    """Check one value against its field type (int, float, bool, str, tuple[str], Literal)."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], fail)
    if origin is Literal:
        if value not in args:
            raise fail(f"{value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail("expected a list of strings")
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise fail("expected true or false")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail("expected an integer")
        return value
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise fail("expected a number")
        return float(value)
    if hint is str and not isinstance(value, str):
        raise fail("expected a string")
    return value


def _impossible(spec: DatasetSpec) -> list[tuple[str, str, str | None]]:
    """Rules no data could satisfy, found before any work."""
    bad: list[tuple[str, str, str | None]] = []
    s = spec.split
    for key in ("train", "val", "test", "test_observers", "val_fraction"):
        if not 0.0 <= getattr(s, key) <= 1.0:
            reason = f"[split] {key} = {getattr(s, key)} is not a fraction in [0, 1]"
            bad.append((key, reason, "[split]"))
    if s.method == "random" and abs(s.train + s.val + s.test - 1.0) > 1e-9:
        total = s.train + s.val + s.test
        bad.append(("test", f"[split] train + val + test = {total:g}, must be 1", "[split]"))
    if s.val_max_photos < 0:
        bad.append(("val_max_photos", "[split] val_max_photos must be >= 0", "[split]"))
    for fmt in spec.output.formats:
        if fmt not in ("parquet", "csv"):
            bad.append(("formats", f"[output] format {fmt!r}: use parquet and/or csv", "[output]"))
    for key, reason in rank_problem("superclass_rank", spec.output.superclass_rank):
        bad.append((key, f"[output] {reason}", "[output]"))
    traits = spec.output.traits
    for i, trait in enumerate(traits):
        if not trait.strip():
            bad.append(("traits", "[output] a trait name is empty", "[output]"))
        elif trait in traits[:i]:
            bad.append(("traits", f"[output] trait {trait!r} is listed twice", "[output]"))
    for i, step in enumerate(spec.steps):
        bad += [(key, reason, f"[[step]]#{i}") for key, reason in step.problems()]
    return bad


def check_against_study(spec: DatasetSpec, facts: StudyFacts) -> None:
    """Refuse, before any work, a spec naming what the study does not have: a source, a vote
    method without labels, a trait (steps' and ``[output] traits``; ``phenology2`` needs the
    trait ``open_flowers``, ``phenology4`` any of the phenology traits). One line, with the
    spec file and the key's line."""
    bad: list[tuple[str, str, str | None]] = []
    for i, step in enumerate(spec.steps):
        where = f"step {i + 1} ({RULES.name_of(type(step))})"
        bad += [(key, f"{where}: {reason}", f"[[step]]#{i}")
                for key, reason in step.study_problems(facts)]
    available = facts.traits | {d for d, reads in DERIVED_TRAITS.items()
                                if facts.traits & set(reads)}
    for trait in spec.output.traits:
        if trait in DERIVED_TRAITS and trait not in available:
            bad.append(("traits", f"[output] trait {trait!r} is derived from "
                                  f"{' or '.join(DERIVED_TRAITS[trait])}, which the study has "
                                  "no labels for", "[output]"))
        elif trait not in available:
            bad += [(key, f"[output] {reason}", "[output]")
                    for key, reason in _absent("traits", "trait", trait, available)]
    for key, reason, section in bad:
        raise InputError(reason, path=spec.source, line=_line_of(spec.text, key, section),
                         field=key)


def guarded_rule(name: str) -> type[Rule]:
    """The rule class registered as ``name``; a plug-in that is not a :class:`Rule`
    dataclass is refused here, before any work."""
    cls = RULES[name]
    if not (isinstance(cls, type) and issubclass(cls, Rule) and dataclasses.is_dataclass(cls)):
        raise InputError(f"rule {name!r} ({RULES.entry(name).target}) is not a Rule dataclass",
                         field="rule")
    return cls


def _line_of(text: str, key: str, section: str | None = None) -> int | None:
    """The line that sets ``key``, searched after its table's header (``[split]``, or the
    n-th ``[[step]]`` written ``[[step]]#n``); tomllib keeps no positions."""
    lines = text.splitlines()
    start = 0
    if section is not None:
        header, _, nth = section.partition("#")
        seen = -1
        for number, line in enumerate(lines):
            if line.strip() == header:
                seen += 1
                if seen == (int(nth) if nth else 0):
                    start = number
                    break
    for number, line in enumerate(lines[start:], start=start + 1):
        stripped = line.strip()
        if stripped.startswith(key) and stripped[len(key) :].lstrip().startswith("="):
            return number
    return None

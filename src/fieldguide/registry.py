"""One habit for everything chosen by name: vote methods, backbones, priors, ingest formats and
curation rules.

An entry is a name written once, a target ``"module:attr"`` and a one-line help text. The
target is imported on first use only, so listing names and help texts (``fieldguide --help``,
``fieldguide ingest --help``) imports nothing heavy. A separate package adds entries through
Python entry points in the group ``fieldguide.<kind>`` (e.g. ``fieldguide.votes``); their help
text is the loaded object's ``help`` attribute, else its docstring's first paragraph. A plug-in
never replaces a built-in entry of the same name: the built-in one is kept, so a spec means the
same thing wherever it runs.

A registry is a read-only mapping from name to the loaded object, so ``name in registry``,
``registry[name]`` and ``", ".join(registry)`` work as for a dict; an unknown name raises
:class:`UnknownName` (an ``InputError`` and a ``KeyError``), one line with "did you mean".
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fieldguide.errors import InputError

T = TypeVar("T")


class UnknownName(InputError, KeyError):
    """A name no registry entry has (an ``InputError``, and a ``KeyError`` for mappings)."""

    def __str__(self) -> str:
        return self._format()


@dataclass(frozen=True)
class Entry:
    """One registered thing: its name, where it lives and what it is in one line (``help``
    is None for a plug-in until its object is loaded)."""

    name: str
    target: str
    help: str | None = None


def load_target(target: str) -> Any:
    """The object a ``"module:attr"`` (or ``"module:attr.sub"``) target names."""
    module_name, colon, attr = target.partition(":")
    if not colon or not module_name or not attr:
        raise InputError(f"target {target!r} is not 'module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def help_of(obj: Any) -> str:
    """A plug-in's help text: its ``help`` attribute, else its docstring's first paragraph
    (on one line)."""
    text = getattr(obj, "help", None)
    if isinstance(text, str) and text.strip():
        return " ".join(text.split())
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ").strip()


class Registry(Mapping[str, T], Generic[T]):
    """Things of one kind by name (see module doc). ``what`` names one of them in messages
    ("aggregation method"), ``field`` is the spec or CLI field that holds the name."""

    def __init__(self, kind: str, what: str, entries: Iterable[tuple[str, str, str]],
                 *, field: str | None = None) -> None:
        self.kind = kind
        self.what = what
        self.field = field
        self._builtin: dict[str, Entry] = {}
        for name, target, text in entries:
            if name in self._builtin:
                raise ValueError(f"{kind}: {name!r} registered twice")
            self._builtin[name] = Entry(name, target, text)
        self._plugins: dict[str, Entry] | None = None
        self._loaded: dict[str, T] = {}

    @property
    def group(self) -> str:
        """The entry-point group third-party packages register in."""
        return f"fieldguide.{self.kind}"

    # -- names ---------------------------------------------------------------------------
    def plugins(self) -> dict[str, Entry]:
        """Entries from installed packages' entry points (looked up once per process)."""
        if self._plugins is None:
            from importlib.metadata import entry_points

            self._plugins = {}
            for point in entry_points(group=self.group):
                if point.name not in self._builtin and point.name not in self._plugins:
                    self._plugins[point.name] = Entry(point.name, point.value)
        return self._plugins

    def entries(self) -> list[Entry]:
        """Built-in entries in the order registered, then plug-ins by name."""
        return [*self._builtin.values(), *sorted(self.plugins().values(), key=lambda e: e.name)]

    def names(self) -> list[str]:
        return [e.name for e in self.entries()]

    def builtin_names(self) -> list[str]:
        return list(self._builtin)

    def entry(self, name: str) -> Entry:
        """The entry of ``name`` (unknown: :class:`UnknownName`)."""
        found = self._builtin.get(name) or self.plugins().get(name)
        if found is None:
            raise self.unknown(name)
        return found

    def check(self, name: str) -> str:
        """``name`` when registered (nothing is imported), else :class:`UnknownName`."""
        return self.entry(name).name

    def unknown(self, name: object, *, also: str = "") -> UnknownName:
        """The one-line error for a name no entry has, with the closest names (``also``:
        what else the caller accepts, e.g. "any timm architecture")."""
        names = self.names()
        close = difflib.get_close_matches(str(name), names, n=2, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        known = ", ".join(names) + (f"; or {also}" if also else "")
        return UnknownName(f"unknown {self.what} {name!r}; {hint}(known: {known})",
                           field=self.field)

    # -- objects -------------------------------------------------------------------------
    def __getitem__(self, name: str) -> T:
        if name not in self._loaded:
            entry = self.entry(name)
            try:
                self._loaded[name] = load_target(entry.target)
            except (ImportError, AttributeError) as exc:
                raise InputError(f"{self.what} {name!r} cannot be loaded from {entry.target} "
                                 f"({type(exc).__name__}: {exc})", field=self.field) from None
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._builtin or name in self.plugins())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._builtin) + len(self.plugins())

    def name_of(self, obj: object) -> str:
        """The name ``obj`` (a loaded target) is registered under (a plug-in that cannot be
        loaded is passed over: it cannot be what the caller holds)."""
        for name in self.names():
            try:
                if self[name] is obj:
                    return name
            except InputError:
                continue
        raise KeyError(f"{obj!r} is not a registered {self.what}")

    # -- help and docs -------------------------------------------------------------------
    def help(self, name: str) -> str:
        """The one-line help of ``name`` (a plug-in's object is loaded for it)."""
        entry = self.entry(name)
        return entry.help if entry.help is not None else help_of(self[name])

    def help_lines(self) -> list[tuple[str, str]]:
        """(name, help) of every entry, for a CLI's help; a plug-in that cannot be loaded is
        listed with the reason, so one broken package never hides the others."""
        lines = []
        for name in self.names():
            try:
                lines.append((name, self.help(name)))
            except InputError as exc:
                lines.append((name, f"(not usable: {exc.reason})"))
        return lines

    def markdown(self) -> str:
        """The built-in entries as a Markdown table (docs/plugins.md holds these)."""
        rows = ["| name | what it is | where |", "| --- | --- | --- |"]
        for e in self._builtin.values():
            rows.append(f"| `{e.name}` | {e.help} | `{e.target}` |")
        return "\n".join(rows)

"""No import cycle between the modules of ``src/fieldguide``.

Which imports count, and why: every ``import`` and ``from ... import`` anywhere in a module
(``ast.walk``), at module level, inside functions and inside ``if TYPE_CHECKING:`` blocks
alike. A function-level import only postpones a cycle to the first call, and a
TYPE_CHECKING one still ties the two modules' types together (mypy follows it); either way
the two modules cannot be understood, tested or moved apart, which is what the rule is for.
It is also how the repository's pre-stop check counts them.

How an import names a module: ``import a.b`` names ``a.b``; ``from a.b import c`` names
``a.b`` (the package or module the names come from: for a package, its ``__init__``) and,
when ``a.b.c`` is itself a module, ``a.b.c`` too. Relative imports are resolved against the
importing module's package. Only modules under ``src/fieldguide`` count; the parent packages
that Python initialises before a submodule are not edges of their own (every submodule
would otherwise be in a cycle with a package that re-exports it).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_files(src: Path = SRC) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is it a package's ``__init__``)."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted((src / "fieldguide").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, package)
    return found


def imported(name: str, path: Path, package: bool, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``name`` (in ``path``) imports, anywhere in it."""
    here = name if package else name.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[:len(here.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            named.add(source)
            named.update(f"{source}.{alias.name}" for alias in node.names)
    return {m for m in named if m in modules and m != name}


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    files = module_files(src)
    return {name: imported(name, path, package, set(files))
            for name, (path, package) in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for root in sorted(graph):
        if root in state:
            continue
        path = [root]
        stack = [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_the_finder_reports_a_cycle_and_resolves_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "fieldguide" / "things"
    pkg.mkdir(parents=True)
    (tmp_path / "fieldguide" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from fieldguide.things import a\n")
    (pkg / "c.py").write_text("import fieldguide.things.a\n")
    graph = import_graph(tmp_path)
    assert graph["fieldguide.things.c"] == {"fieldguide.things.a"}
    assert find_cycle(graph) == ["fieldguide.things.a", "fieldguide.things.b",
                                 "fieldguide.things.a"]


def test_no_import_cycle_in_src() -> None:
    graph = import_graph()
    assert len(graph) > 100 and "fieldguide.identification.identifier" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])

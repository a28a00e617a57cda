"""Every registry (fieldguide.registry): each built-in entry loads, is what its kind must be,
has a one-line help text and is listed in its command's help; an unknown name is one line
with "did you mean"; docs/plugins.md shows exactly the registries' tables."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.curation.spec import Rule, parse_spec
from fieldguide.errors import InputError
from fieldguide.ingest.format import IngestFormat
from fieldguide.models.registry import BackboneInfo, backbone_info
from fieldguide.priors.prior import PlaceSeasonPrior
from fieldguide.registry import Registry, UnknownName, load_target
from fieldguide.votes.base import Aggregator

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"

# registry, what each entry must be, the command whose --help lists them
KINDS = [
    ("fieldguide.votes.base:REGISTRY", lambda o: issubclass(o, Aggregator), ["aggregate"]),
    ("fieldguide.models.registry:BACKBONES", lambda o: isinstance(o, BackboneInfo), ["train"]),
    ("fieldguide.priors.prior:PRIORS", lambda o: issubclass(o, PlaceSeasonPrior),
     ["prior", "build"]),
    ("fieldguide.ingest.format:FORMATS", lambda o: isinstance(o, IngestFormat), ["ingest"]),
    ("fieldguide.curation.spec:RULES",
     lambda o: issubclass(o, Rule) and dataclasses.is_dataclass(o), ["dataset", "build"]),
]


@pytest.mark.parametrize(("ref", "is_kind", "command"), KINDS, ids=[k[0] for k in KINDS])
def test_every_entry_loads_and_is_listed(ref: str, is_kind: Any, command: list[str]) -> None:
    registry: Registry[Any] = load_target(ref)
    assert registry.group == f"fieldguide.{registry.kind}"
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    last_section = max(i for i, line in enumerate(lines) if line.endswith(":")
                       and not line.startswith(" "))
    rows = {line.split()[0]: line for line in lines[last_section + 1:]
            if line.startswith("  ") and not line.startswith("   ")}
    for name in registry.builtin_names():
        assert is_kind(registry[name]), name
        text = registry.help(name)
        assert text and "\n" not in text and text.endswith("."), name
        assert name in rows, f"{name} missing from `{' '.join(command)} --help`"
        assert rows[name].split()[1] == text.split()[0], name


@pytest.mark.parametrize("ref", [k[0] for k in KINDS])
def test_unknown_name_is_one_line_with_did_you_mean(ref: str) -> None:
    registry: Registry[Any] = load_target(ref)
    name = registry.builtin_names()[0]
    wrong = name[:-1] if name.endswith("s") else name + "s"
    assert wrong not in registry
    with pytest.raises(UnknownName) as err:
        registry[wrong]
    message = str(err.value)
    assert isinstance(err.value, InputError) and isinstance(err.value, KeyError)
    assert "\n" not in message and f"did you mean {name!r}" in message
    assert registry.get(wrong) is None  # a Mapping: .get and `in` answer without raising


def test_ingest_formats_declare_what_their_function_takes() -> None:
    from fieldguide.ingest.format import FORMATS

    for name in FORMATS.builtin_names():
        fmt = FORMATS[name]
        options = {p.name: p.default for p in fmt.options}
        inspect.signature(fmt.run).bind(None, Path("x"), **options)  # raises if one is not


def test_the_cli_and_specs_answer_with_the_registry() -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["prior", "build", "--method", "count", "-o", "x", "-s", "nowhere"])
    assert bad.exit_code == 2 and "did you mean 'counts'?" in bad.output
    bad = runner.invoke(app, ["ingest", "dwc", "x"])
    assert bad.exit_code == 2 and "did you mean 'dwca'?" in bad.output
    with pytest.raises(InputError, match=r"line 3.*did you mean 'select_taxa'"):
        parse_spec({"name": "x", "step": [{"rule": "select_taxon"}]},
                   text='name = "x"\n[[step]]\nrule = "select_taxon"\n', source="spec.toml")
    with pytest.raises(InputError, match="did you mean 'lite2' or 'lite1'"):
        backbone_info("lite3")
    assert backbone_info("tf_efficientnet_lite1") is load_target(
        "fieldguide.models.registry:BACKBONES")["lite1"]


def test_docs_tables_equal_the_registries() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = dict(re.findall(r"<!-- registry (\S+) -->\n(.*?)\n<!-- end registry -->", text,
                             flags=re.S))
    assert sorted(blocks) == sorted(k[0] for k in KINDS)
    for ref, table in blocks.items():
        assert table == load_target(ref).markdown(), (
            f"docs/plugins.md is out of date for {ref}; the table now reads:\n"
            + load_target(ref).markdown())

"""A third-party plug-in of every kind, found through entry points and used by the CLI.

A throwaway package (one module and its ``*.dist-info`` with ``entry_points.txt``) is written
into a temporary folder that is put on PYTHONPATH, so ``importlib.metadata`` finds it as if it
were installed; no file of the repository is touched. Each kind must then appear in its
command's ``--help`` and do its work when chosen by name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

PLUGIN = '''"""Toy plug-ins of each kind fieldguide registers."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fieldguide.curation.spec import Rule
from fieldguide.ingest.format import FORCE, IngestFormat, Param
from fieldguide.models.card import Preprocessing
from fieldguide.models.registry import BackboneInfo
from fieldguide.priors.prior import PlaceSeasonPrior
from fieldguide.votes.base import Aggregator


class ToyVote(Aggregator):
    """Toy vote: the alphabetically last label voted for each task."""

    def fit(self, votes):
        labels = np.full(votes.n_tasks, -1, dtype=np.int64)
        np.maximum.at(labels, votes.task, votes.label)
        self.labels_ = labels
        self.conf_ = np.ones(votes.n_tasks)
        self.acc_ = np.ones(votes.n_tasks)
        self.validated_ = labels >= 0
        self.weights_ = np.ones(votes.n_workers)
        return self


TOY_BACKBONE = BackboneInfo("test_resnet", Preprocessing(160),
                            help="Toy backbone: timm's tiny test ResNet.")


class ToyPrior(PlaceSeasonPrior):
    """Toy prior: every taxon equally likely everywhere, all year."""

    def __init__(self, params, arrays, names, *, combine="inat"):
        super().__init__(names, rank=str(params["rank"]), thresholds=arrays["thresholds"],
                         combine=combine)
        self.params = params
        self.arrays = arrays

    @classmethod
    def fit(cls, obs, **options):
        n = len(obs.names)
        return cls({"rank": obs.rank, "toy": True},
                   {"thresholds": np.zeros(n, dtype=np.float32)}, list(obs.names))

    @classmethod
    def restore(cls, params, arrays, names, *, combine="inat", nearby=None):
        return cls(params, arrays, names, combine=combine)

    def frequency(self, cols):
        return np.where(cols >= 0, 1.0 / len(self.names), 0.0)

    def evaluate(self, ctx, cols, *, season=True):
        n, k = len(ctx), len(cols)
        return np.full((n, k), 1.0 / k), np.ones((n, k)), np.ones(n, dtype=bool)


def ingest_first_rows(study, path, *, first=5, force=False):
    """Ingest the first rows of an iNaturalist export."""
    from fieldguide.ingest import ingest_inat_csv

    lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / Path(path).name
        part.write_text("".join(lines[: first + 1]), encoding="utf-8")
        return ingest_inat_csv(study, part, force=force)


TOY_FORMAT = IngestFormat(ingest_first_rows, "export", (
    Param("first", "How many rows to ingest.", kind="int", default=5, minimum=1), FORCE),
    description="Toy format: the first rows of an iNaturalist export.")


@dataclass(frozen=True)
class ToyRule(Rule):
    """Toy rule: keep the first photos of every observation."""

    keep: int = 1

    def problems(self):
        bad = super().problems()
        if self.keep < 1:
            bad.append(("keep", "toy keeps at least one photo"))
        return bad

    def apply(self, con, seed):
        from fieldguide.curation.steps import delete

        delete(con, "k > ?", [self.keep])
        return [f"toy kept {self.keep} photo(s) per observation"]
'''

ENTRY_POINTS = """[fieldguide.votes]
toy = toyplug:ToyVote
broken = toyplug:NoSuchMethod

[fieldguide.backbones]
toy = toyplug:TOY_BACKBONE

[fieldguide.priors]
toy = toyplug:ToyPrior

[fieldguide.ingest]
toy = toyplug:TOY_FORMAT

[fieldguide.rules]
toy = toyplug:ToyRule
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("plugin")
    (root / "toyplug.py").write_text(PLUGIN, encoding="utf-8")
    dist = root / "fieldguide_toy-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fieldguide-toy\n"
                                   "Version: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(SRC)]),
            "FIELDGUIDE_DEBUG": ""}


def fieldguide(env: dict[str, str], *args: str, ok: bool = True) -> str:
    done = subprocess.run([sys.executable, "-m", "fieldguide.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    else:
        assert done.returncode == 2, done.stdout + done.stderr
    return done.stdout + done.stderr


def listed(help_text: str, name: str, words: str) -> bool:
    """``name`` starts a row of the help's listing, followed by its help text."""
    return any(line.split()[:1] == [name] and words in line for line in help_text.splitlines())


def test_every_kind_is_listed_in_its_help(env: dict[str, str]) -> None:
    methods = fieldguide(env, "aggregate", "--help")
    assert listed(methods, "toy", "alphabetically last")
    assert listed(methods, "broken", "not usable") and listed(methods, "majority", "Most")
    assert listed(fieldguide(env, "train", "--help"), "toy", "Toy backbone")
    assert listed(fieldguide(env, "prior", "build", "--help"), "toy", "equally likely")
    assert listed(fieldguide(env, "ingest", "--help"), "toy", "Toy format")
    assert listed(fieldguide(env, "dataset", "build", "--help"), "toy", "Toy rule")
    own = fieldguide(env, "ingest", "toy", "--help")
    assert "--first" in own and "How many rows to ingest." in own and "--study" in own


def test_toy_vote_method_aggregates(env: dict[str, str], tmp_path: Path) -> None:
    votes = tmp_path / "votes.csv"
    votes.write_text("task,worker,label\nt1,w1,a\nt1,w2,a\nt1,w3,b\nt2,w1,c\nt2,w2,d\n",
                     encoding="utf-8")
    out = tmp_path / "labels.csv"
    fieldguide(env, "aggregate", str(votes), "--method", "toy", "-o", str(out))
    rows = [line.replace('"', "").split(",")[:2] for line in out.read_text().splitlines()[1:]]
    assert rows == [["t1", "b"], ["t2", "d"]]  # majority would say a for t1
    broken = fieldguide(env, "aggregate", str(votes), "--method", "broken", "-o", str(out),
                        ok=False)
    assert "aggregation method 'broken' cannot be loaded from toyplug:NoSuchMethod" in broken


def test_toy_backbone_is_found_by_name(env: dict[str, str]) -> None:
    # the lookup a training spec's model.backbone goes through (no torch needed for it)
    code = ("from fieldguide.models.registry import BACKBONES, backbone_info\n"
            "info = backbone_info('toy')\n"
            "print(info.timm_name, info.preprocessing.size, info.fine_tunes,"
            " BACKBONES.help('toy'))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.split()[:4] == ["test_resnet", "160", "True", "Toy"]


def test_toy_format_rule_and_prior_through_the_cli(env: dict[str, str], shared_data: Path,
                                                    tmp_path: Path) -> None:
    export = shared_data / "observations" / "inat_flowering_taylor2019" / "inat_rudbeckia_hirta.csv"
    study = tmp_path / "study"
    fieldguide(env, "ingest", "toy", str(export), "--first", "12", "-s", str(study))
    fieldguide(env, "ingest", "toy", str(export), "--first", "0", "-s", str(study), ok=False)

    spec = tmp_path / "spec.toml"
    spec.write_text('name = "toy"\n\n[[step]]\nrule = "toy"\nkeep = 1\n\n[split]\n'
                    'method = "none"\n', encoding="utf-8")
    out = fieldguide(env, "dataset", "build", str(spec), "-o", str(tmp_path / "ds"),
                     "-s", str(study))
    assert out.splitlines()[1].split()[0] == "toy"
    steps = json.loads((tmp_path / "ds" / "steps.json").read_text(encoding="utf-8"))
    toy = next(s for s in steps["steps"] if s["step"] == "toy")
    assert toy["notes"] == ["toy kept 1 photo(s) per observation"] and toy["photos_out"] == 12
    spec.write_text(spec.read_text().replace("keep = 1", "keep = 0"), encoding="utf-8")
    bad = fieldguide(env, "dataset", "build", str(spec), "-o", str(tmp_path / "ds2"),
                     "-s", str(study), ok=False)
    assert "line 5" in bad and "toy keeps at least one photo" in bad

    prior = tmp_path / "prior"
    built = fieldguide(env, "prior", "build", "--method", "toy", "-o", str(prior),
                       "-s", str(study))
    assert built.startswith("toy prior of 1 taxa from 12 records")
    doc = json.loads((prior / "prior.json").read_text(encoding="utf-8"))
    assert doc["method"] == "toy" and doc["params"] == {"toy": True}
    held_out = tmp_path / "held_out.csv"
    held_out.write_text("taxon,latitude,longitude,observed_on\n"
                        "Rudbeckia hirta,44.27,-72.51,2016-07-01\n", encoding="utf-8")
    scores = json.loads(fieldguide(env, "prior", "evaluate", str(prior), str(held_out),
                                   "--json"))
    assert scores["method"] == "toy" and scores["scores"]

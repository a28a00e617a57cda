"""Build a dataset from a study and a spec: run the steps in order, split, write the files.

Every step's effect (photos, observations and taxa in and out, notes, time) is recorded in
``steps.json`` beside the manifest; the report is rendered from those files alone, so
``fieldguide dataset report DIR`` can redo it without the study.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from fieldguide.curation.manifest import write_manifest
from fieldguide.curation.spec import RULES, DatasetSpec, Rule, StudyFacts, check_against_study
from fieldguide.curation.splits import assign_splits
from fieldguide.curation.steps import DS, load_candidates, run_step
from fieldguide.store import Study
from fieldguide.store.sql import first_row, scalar


@dataclass
class StepRecord:
    """What one step did."""

    step: str
    params: dict[str, Any]
    photos_in: int
    photos_out: int
    observations_in: int
    observations_out: int
    taxa_in: int
    taxa_out: int
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class BuildResult:
    spec: DatasetSpec
    steps: list[StepRecord]
    files: dict[str, Path] = field(default_factory=dict)
    url_only: int = 0  #: photos with no file on disk yet (known only by URL)

    def summary(self) -> str:
        last = self.steps[-1]
        text = (f"dataset {self.spec.name!r}: {last.photos_out:,} photos, "
                f"{last.taxa_out:,} classes; report {self.files.get('report.md')}")
        if self.url_only:
            text += (f"\n{self.url_only:,} of {last.photos_out:,} photos are known only by URL: "
                     "run `fieldguide photos fetch -s STUDY --dataset DIR` before training")
        return text


def _counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    row = first_row(con.execute(
        f"SELECT count(*), count(DISTINCT observation_id), count(DISTINCT taxon_id) FROM {DS}"))
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _name(step: Rule) -> str:
    return RULES.name_of(type(step))


def study_facts(con: duckdb.DuckDBPyConnection) -> StudyFacts:
    """The sources, vote methods with labels and traits the study holds, for
    :func:`fieldguide.curation.spec.check_against_study` (three small DISTINCT scans)."""

    def names(sql: str) -> frozenset[str]:
        return frozenset(str(r[0]) for r in con.execute(sql).fetchall() if r[0] is not None)

    traits = names("SELECT DISTINCT trait FROM traits")
    if scalar(con, "SELECT count(*) FROM (SELECT 1 FROM observations "
                   "WHERE life_stage IS NOT NULL LIMIT 1)"):
        traits |= {"life_stage"}
    return StudyFacts(sources=names("SELECT DISTINCT source FROM observations"),
                      label_methods=names("SELECT DISTINCT method FROM labels"),
                      traits=traits)


def select(study: Study, spec: DatasetSpec) -> list[StepRecord]:
    """Run the steps and the split, leaving temp tables ``fg_ds`` and ``fg_split``; a spec
    naming what the study lacks is refused first (nothing is written)."""
    con = study.con
    check_against_study(spec, study_facts(con))
    records: list[StepRecord] = []
    start = time.perf_counter()
    study_totals = _study_totals(con)
    load_candidates(con)
    before = _counts(con)
    records.append(StepRecord(
        "candidates", {}, study_totals[0], before[0], study_totals[1], before[1],
        study_totals[2], before[2], time.perf_counter() - start,
        ["photos of observations with a taxon"]))
    for step in spec.steps:
        start = time.perf_counter()
        notes = run_step(con, step, spec.seed)
        after = _counts(con)
        records.append(StepRecord(
            _name(step), dataclasses.asdict(step), before[0], after[0], before[1], after[1],
            before[2], after[2], time.perf_counter() - start, notes))
        before = after
    start = time.perf_counter()
    notes = assign_splits(con, spec.split, spec.seed)
    records.append(StepRecord(
        f"split ({spec.split.method})", dataclasses.asdict(spec.split), before[0], before[0],
        before[1], before[1], before[2], before[2], time.perf_counter() - start, notes))
    return records


def _study_totals(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    """(photos, observations, taxa) in the study before any rule."""
    row = first_row(con.execute(
        "SELECT (SELECT count(*) FROM photos), (SELECT count(*) FROM observations), "
        "(SELECT count(DISTINCT taxon_id) FROM observations)"))
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def build_dataset(study: Study, spec: DatasetSpec, out_dir: str | Path) -> BuildResult:
    """Select, split and write manifest, class list, step log and report into ``out_dir``."""
    from fieldguide.curation.report import write_report

    out = Path(out_dir)
    records = select(study, spec)
    start = time.perf_counter()
    formats = ("parquet", *(f for f in spec.output.formats if f != "parquet"))
    files = write_manifest(study.con, out, spec.output.traits, formats,
                           spec.output.superclass_rank)
    seconds = time.perf_counter() - start
    log = {
        "spec": _spec_dict(spec),
        "steps": [dataclasses.asdict(r) for r in records],
        "write_seconds": seconds,
    }
    (out / "steps.json").write_text(json.dumps(log, indent=2, default=str), encoding="utf-8")
    files["steps.json"] = out / "steps.json"
    files.update(write_report(out, plots=spec.output.plots))
    url_only = first_row(study.con.execute(
        "SELECT count(*) FROM read_parquet(?) WHERE coalesce(path, '') = ''",
        [str(files["manifest.parquet"])]))
    return BuildResult(spec, records, files, int(url_only[0]) if url_only else 0)


def _spec_dict(spec: DatasetSpec) -> dict[str, Any]:
    out = dataclasses.asdict(spec)
    del out["text"]
    out["steps"] = [{"rule": _name(s), **dataclasses.asdict(s)} for s in spec.steps]
    return out

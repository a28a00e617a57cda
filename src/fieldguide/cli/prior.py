"""``fieldguide prior``: build a place-and-season prior from a study, and evaluate one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fieldguide.cli.common import DEFAULT_STUDY, StudyOption, guarded, open_study
from fieldguide.cli.plugins import listing, registry

prior_app = typer.Typer(no_args_is_help=True,
                        help="Place-and-season priors: p(taxon | where, when).")


PRIORS = "fieldguide.priors.prior:PRIORS"


@prior_app.command("build", cls=listing(PRIORS, "Methods"))
def build(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the prior.")],
    study: StudyOption = DEFAULT_STUDY,
    method: Annotated[str, typer.Option(help="A prior method (listed below).")] = "counts",
    rank: Annotated[str, typer.Option(help="Taxa of the prior (records roll up to it).")]
    = "species",
    epochs: Annotated[int | None, typer.Option(
        help="Training epochs, for methods that train (sinr: 30 when not given).")] = None,
) -> None:
    """Learn p(taxon | place, day of year) from the study's observations (records without
    coordinates give only a season, without a date only a place; see docs/priors.md)."""
    from fieldguide.priors import build_prior

    guarded(lambda: registry(PRIORS).check(method))
    options = {"epochs": epochs} if epochs is not None else {}
    with open_study(study, create=False, read_only=True) as s:
        _, summary = guarded(lambda: build_prior(s, output, method=method, rank=rank,
                                                 **options))
    typer.echo(f"{method} prior of {summary['taxa']:,} taxa from {summary['records']:,} "
               f"records -> {output}")
    for reason, count in sorted(summary["skipped"].items()):
        if count:
            typer.echo(f"  {reason}: {count:,}")


@prior_app.command("evaluate")
def evaluate(
    prior: Annotated[Path, typer.Argument(help="Prior folder (prior.json).")],
    observations: Annotated[Path, typer.Argument(
        help="CSV with columns taxon, latitude, longitude, observed_on.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
) -> None:
    """Top-1, top-5 and MAP of the prior alone against the class-frequency baseline, with
    and without the season, on held-out records."""
    from fieldguide.priors import evaluate_prior, load_prior, read_csv
    from fieldguide.priors.evaluate import table

    loaded = guarded(lambda: load_prior(prior))
    obs, skipped = guarded(lambda: read_csv(observations, loaded.names))
    rows = evaluate_prior(loaded, obs)
    if as_json:
        typer.echo(json.dumps({"prior": str(prior), "method": loaded.method,
                               "scores": [r.as_dict() for r in rows],
                               "skipped": dict(skipped)}, indent=1))
        return
    typer.echo(table(rows))
    for reason, count in sorted(skipped.items()):
        if count:
            typer.echo(f"skipped: {reason}: {count:,}")


@prior_app.command("anomalies")
def anomalies(
    prior: Annotated[Path, typer.Argument(help="Prior folder (prior.json).")],
    observations: Annotated[Path, typer.Argument(
        help="Records (CSV or Parquet): observation_id or id, taxon or scientific_name, "
             "latitude, longitude, observed_on; an iNaturalist export as it is.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Scores CSV to write.")],
) -> None:
    """Score each located, dated record by how unexpected its taxon is there and then
    (anomaly_score in [0, 1]; 0.5 or more: the prior does not expect it nearby; see
    docs/priors.md), most anomalous first."""
    from fieldguide.priors import load_prior
    from fieldguide.priors.anomaly import anomaly_scores, read_records, write_anomalies

    loaded = guarded(lambda: load_prior(prior))
    records = guarded(lambda: read_records(observations, loaded.names))
    scores = anomaly_scores(loaded, records.taxon, records.context)
    write_anomalies(records, scores, loaded.names, output)
    typer.echo(f"{len(records):,} records scored, {int((~scores.expected_nearby).sum()):,} "
               f"not expected nearby -> {output}")
    for reason, count in sorted(records.skipped.items()):
        typer.echo(f"skipped: {reason}: {count:,}")

"""Bad input never crashes the prior: coordinates out of range and unusable dates are
skipped and counted (documented in docs/priors.md), a study without located records is a
clear error, from the library and from the CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.errors import InputError
from fieldguide.priors import Context, fit_prior, read_csv, read_study, save_prior
from fieldguide.priors.synthetic import CLASSES, make_lookalike_study
from fieldguide.store import Study


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad") / "s"
    with Study(root) as s:
        make_lookalike_study(s, observations=400)
    return root


def test_csv_skips_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "eval.csv"
    path.write_text("taxon,latitude,longitude,observed_on\n"
                    f"{CLASSES[0]},40,-110,2021-04-01\n"
                    f"{CLASSES[0]},95,-110,2021-04-01\n"        # latitude out of range
                    f"{CLASSES[0]},40,-190,2021-04-01\n"        # longitude out of range
                    f"{CLASSES[0]},0,0,2021-04-01\n"            # null island
                    f"{CLASSES[1]},40,-75,yesterday\n"          # unparseable date
                    f"{CLASSES[1]},40,-75,2031-04-01\n"         # future date
                    f"{CLASSES[1]},,,2031-04-01\n"              # neither
                    "Unknown taxon,40,-75,2021-04-01\n", encoding="utf-8")
    obs, skipped = read_csv(path, list(CLASSES), today=date(2026, 1, 1))
    assert len(obs) == 6
    assert skipped["coordinates out of range or (0, 0)"] == 3
    assert skipped["unparseable date (place only)"] == 1
    assert skipped["date in the future (place only)"] == 2
    assert skipped["neither coordinates nor date (dropped)"] == 1
    assert skipped["taxon not in the prior"] == 1
    assert np.isnan(obs.lat[1:4]).all() and np.isnan(obs.doy[4:]).all()
    (tmp_path / "cols.csv").write_text("taxon,lat,lon\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column"):
        read_csv(tmp_path / "cols.csv", list(CLASSES))


def test_study_future_dates_give_place_only(study: Path) -> None:
    with Study(study, read_only=True) as s:
        obs = read_study(s, today=date(2021, 3, 1))
    assert obs.skipped["date in the future (place only)"] > 0
    assert np.isnan(obs.doy).sum() == obs.skipped["date in the future (place only)"]
    with Study(study, read_only=True) as s, pytest.raises(InputError, match="rank"):
        read_study(s, rank="subspecies-ish")


def test_out_of_range_context_keeps_vision(study: Path) -> None:
    with Study(study, read_only=True) as s:
        prior = fit_prior(read_study(s))
    vision = np.full((4, 4), 0.25)
    ctx = Context.of([91.0, -40.0, np.inf, 40.0], [0.0, 181.0, 0.0, -110.0],
                     [0.0, 367.0, -5.0, np.nan])
    out = prior.apply(vision, ctx, list(CLASSES))
    assert np.allclose(out.probs[:3], vision[:3]) and out.expected_nearby is not None
    assert out.score is not None
    assert not out.expected_nearby[:3].any() and np.isnan(out.score[:3]).all()
    assert not np.allclose(out.probs[3], vision[3])


def test_cli_refuses_a_study_without_located_records(tmp_path: Path, study: Path) -> None:
    root = tmp_path / "nowhere"
    with Study(root) as s:
        make_lookalike_study(s, observations=30)
        s.con.execute("UPDATE observations SET latitude = 95, longitude = 0")
    runner = CliRunner()
    res = runner.invoke(app, ["prior", "build", "-s", str(root), "-o", str(tmp_path / "p")])
    assert res.exit_code != 0 and "no located observations" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    res = runner.invoke(app, ["prior", "build", "-s", str(study), "-o", str(tmp_path / "q"),
                              "--method", "nope"])
    assert res.exit_code != 0 and "unknown prior method" in res.output
    with Study(study, read_only=True) as s:
        save_prior(fit_prior(read_study(s)), tmp_path / "ok")
    bad = tmp_path / "bad.csv"
    bad.write_text("taxon,latitude\n", encoding="utf-8")
    res = runner.invoke(app, ["prior", "evaluate", str(tmp_path / "ok"), str(bad)])
    assert res.exit_code != 0 and "missing column" in res.output

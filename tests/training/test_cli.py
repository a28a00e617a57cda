from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app
from tests.training.conftest import tiny_spec


def _toml(table: dict[str, object]) -> str:
    lines, tables = [], []
    for key, value in table.items():
        if isinstance(value, dict):
            tables.append(f"[{key}]\n" + "".join(f"{k} = {_value(v)}\n" for k, v in value.items()))
        else:
            lines.append(f"{key} = {_value(value)}\n")
    return "".join(lines) + "\n".join(tables)


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return repr(v).replace("'", '"')
    return repr(v) if not isinstance(v, list) else "[" + ", ".join(map(_value, v)) + "]"


def test_help_does_not_import_torch() -> None:
    code = ("import sys; from fieldguide.cli.main import app; "
            "from typer.testing import CliRunner; r = CliRunner().invoke(app, ['train', '--help']);"
            " assert r.exit_code == 0, r.output; assert 'torch' not in sys.modules; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.stdout.strip() == "ok", done.stderr


def test_train_then_evaluate(photos: Path, tmp_path: Path) -> None:
    spec = tmp_path / "tiny.toml"
    spec.write_text(_toml(tiny_spec(photos, tmp_path / "unused", mode="linear-probe")))
    assert tomllib.loads(spec.read_text())["mode"] == "linear-probe"
    runner = CliRunner()
    done = runner.invoke(app, ["train", str(spec), "-o", str(tmp_path / "run")])
    assert done.exit_code == 0, done.output
    assert "test_top1" in done.output and (tmp_path / "run/model/model.json").is_file()
    pytest.importorskip("fieldguide.evaluation")
    done = runner.invoke(app, ["evaluate", str(tmp_path / "run/model"), str(photos),
                               "-o", str(tmp_path / "report")])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "report/predictions.csv").is_file()
    other = tmp_path / "other.toml"
    other.write_text(_toml(tiny_spec(photos, tmp_path / "unused", mode="linear-probe",
                                     probe={"l2": 1.0, "max_iter": 5})))
    assert runner.invoke(app, ["train", str(other), "-o", str(tmp_path / "run2")]).exit_code == 0
    done = runner.invoke(app, ["compare", str(tmp_path / "run/model"), str(tmp_path / "run2/model"),
                               str(photos), "-o", str(tmp_path / "cmp")])
    assert done.exit_code == 0, done.output
    assert any((tmp_path / "cmp").iterdir())


def test_unknown_key_is_a_clean_error(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('[data]\nmanifest = "m.csv"\n[optim]\nlearnign_rate = 0.1\n')
    done = CliRunner().invoke(app, ["train", str(spec)])
    assert done.exit_code == 2 and "optim.learnign_rate" in done.output

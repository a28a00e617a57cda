"""Training spec values checked on reading, through the real CLI: out-of-range numbers, a spec
that is not UTF-8, and a weights file that is a pickle of more than tensors. Each is refused
with exit code 2 and one line on stderr naming the file (and the key and its line where the
spec sets it), before a run folder is made."""

from __future__ import annotations

import dataclasses
import fractions
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.errors import InputError
from fieldguide.training.spec import LIMITS, TrainSpec, parse_spec

runner = CliRunner()
BASE = {"data": {"manifest": "m.csv"}}


def train(tmp_path: Path, spec_text: str | bytes) -> tuple[int, list[str], Path]:
    spec = tmp_path / "train.toml"
    if isinstance(spec_text, bytes):
        spec.write_bytes(spec_text)
    else:
        spec.write_text(spec_text, encoding="utf-8")
    out = tmp_path / "run"
    done = runner.invoke(app, ["train", str(spec), "-o", str(out)])
    return done.exit_code, done.stderr.strip().splitlines(), out


@pytest.mark.parametrize(("spec_text", "where", "reason"), [
    pytest.param('[data]\nmanifest = "m.csv"\n[probe]\nl2 = -5\n',
                 "line 4, field 'probe.l2'", "must be >= 0, got -5.0", id="probe-l2"),
    pytest.param('[data]\nmanifest = "m.csv"\n[augment]\nscale_min = 3.0\n',
                 "line 4, field 'augment.scale_min'", "must be in (0, 1], got 3.0",
                 id="scale-min"),
    pytest.param('optim.epochs = 0\n[data]\nmanifest = "m.csv"\n',
                 "line 1, field 'optim.epochs'", "must be >= 1", id="dotted-epochs"),
    pytest.param('[data]\nmanifest = "m.csv"\nranks = ["genus", "famly"]\n',
                 "line 3, field 'data.ranks'", "did you mean 'family'?", id="rank"),
    pytest.param(b'name = "caf\xe9"\n[data]\nmanifest = "m.csv"\n', "line 1",
                 "not utf-8 text", id="not-utf8"),
])
def test_a_bad_value_is_one_line_naming_file_key_and_line(
    tmp_path: Path, spec_text: str | bytes, where: str, reason: str
) -> None:
    code, lines, out = train(tmp_path, spec_text)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {tmp_path / 'train.toml'}, {where}: "), lines[0]
    assert reason in lines[0]
    assert not out.exists()


def test_a_pickle_of_more_than_tensors_is_one_line_and_no_run_folder(
    tmp_path: Path, photos: Path
) -> None:
    """torch.load(weights_only=True) refuses the file safely; the refusal is ours, one line."""
    weights = tmp_path / "weights.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "ratio": fractions.Fraction(1, 3)}, weights)
    code, lines, out = train(tmp_path, f"""\
mode = "full"
[data]
manifest = "{photos}"
workers = 0
[model]
backbone = "test_efficientnet"
weights = "{weights}"
image_size = 32
[optim]
epochs = 1
[run]
export_onnx = false
progress = false
""")
    assert code == 2
    assert lines == [f"error: {weights}: not a tensors-only weights file: it holds a "
                     "fractions.Fraction object, which loading with weights_only=True refuses "
                     "to build (save a state dict of tensors, or .safetensors)"]
    assert not out.exists()


def test_a_file_that_is_no_weights_at_all_is_one_line(tmp_path: Path) -> None:
    from fieldguide.models.registry import read_state_dict

    for name in ("junk.pt", "junk.safetensors"):
        (tmp_path / name).write_bytes(b"not a weights file at all")
        with pytest.raises(InputError, match="not a tensors-only weights file") as err:
            read_state_dict(tmp_path / name)
        assert "\n" not in str(err.value) and err.value.path == str(tmp_path / name)


def test_every_limit_names_a_real_key_and_the_defaults_and_presets_pass() -> None:
    spec = TrainSpec()
    keys = {f.name for f in dataclasses.fields(spec)}
    for f in dataclasses.fields(spec):
        table = getattr(spec, f.name)
        if dataclasses.is_dataclass(table):
            keys |= {f"{f.name}.{g.name}" for g in dataclasses.fields(table)}
    assert set(LIMITS) <= keys
    parse_spec(BASE)
    for preset in ("reeb2022", "inat2017"):
        parse_spec({**BASE, "preset": preset, "model": {"backbone": "lite0"}})


@pytest.mark.parametrize(("section", "key", "value"), [
    ("optim", "lr", 0), ("optim", "momentum", 1.0), ("optim", "eps", 0),
    ("optim", "gamma", 0), ("optim", "label_smoothing", 1), ("optim", "batch_size", 0),
    ("optim", "step_epochs", 0), ("optim", "weight_decay", -1e-4),
    ("imbalance", "beta", 1.0), ("imbalance", "logit_adjust", -1),
    ("model", "dropout", 1.0), ("model", "partial_blocks", 0), ("model", "image_size", -1),
    ("augment", "ratio", [1.5, 0.5]), ("augment", "color_jitter", -0.1),
    ("augment", "scale_min", 0), ("probe", "max_iter", 0), ("data", "workers", -1),
    ("data", "max_per_class", -1), ("run", "threads", 0), ("run", "stop_after_epoch", -1),
])
def test_each_range_is_checked(section: str, key: str, value: object) -> None:
    with pytest.raises(InputError) as err:
        parse_spec({**BASE, section: {**BASE.get(section, {}), key: value}})
    assert err.value.field == f"{section}.{key}"

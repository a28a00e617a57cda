"""The training spec: a TOML file parsed into dataclasses, every key checked before any work.

``preset = "reeb2022"`` (or ``"inat2017"``) starts from a published recipe; the tables below it
override single values. Relative paths are read from the spec file's folder.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldguide.errors import InputError

MODES = ("linear-probe", "partial", "full")


@dataclass
class DataSpec:
    manifest: str = ""
    root: str = ""  # image folder for relative paths (default: the manifest's folder)
    label: str = "taxon"  # the primary head's column (a taxon or a trait such as phenology4)
    label_kind: str = "species"  # species | trait
    ranks: list[str] = field(default_factory=list)  # rank heads tied to the species head
    traits: list[str] = field(default_factory=list)  # extra trait heads trained jointly
    val_split: str = "val"
    test_split: str = "test"
    workers: int = 1
    max_per_class: int = 0  # 0: all photos (small values make smoke runs)


@dataclass
class ModelSpec:
    # a registered name (lite0, lite1, lite2, dinov2-s14, a timm name) or a list of them,
    # whose embeddings a linear probe concatenates
    backbone: str | list[str] = "lite0"
    weights: str = "imagenet"  # "imagenet", a file path, or "" for random initialisation
    image_size: int = 0  # 0: the backbone's own size
    dropout: float = 0.0
    partial_blocks: int = 2  # partial mode: the last N timm stage groups are trained
    channels_last: bool = False


@dataclass
class AugmentSpec:
    scale_min: float = 0.08  # random-resized-crop area range (scale_min, 1)
    ratio: list[float] = field(default_factory=lambda: [0.75, 4 / 3])  # aspect-ratio range
    hflip: bool = True
    color_jitter: float = 0.0


@dataclass
class OptimSpec:
    optimizer: str = "sgd"  # sgd | rmsprop | adamw
    lr: float = 0.001
    momentum: float = 0.9
    alpha: float = 0.9  # RMSProp decay
    eps: float = 1e-8
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 10
    schedule: str = "constant"  # constant | step | cosine
    step_epochs: int = 4
    gamma: float = 0.94
    label_smoothing: float = 0.0


@dataclass
class ImbalanceSpec:
    sampling: str = "uniform"  # uniform over photos | class-balanced | sqrt
    loss_weights: str = "none"  # none | inverse | effective (Cui et al. 2019)
    beta: float = 0.999
    logit_adjust: float = 0.0  # tau of Menon et al. 2021; 0 disables


@dataclass
class ProbeSpec:
    l2: float = 1e-3  # weight decay of the logistic regression on embeddings
    max_iter: int = 300
    warm_start: bool = False  # partial/full: start the heads from the linear probe
    cache: str = ""  # embedding cache folder (default: <out>/../.embeddings)
    # auto: full-batch L-BFGS on small problems, mini-batch SGD past photos x classes of
    # fieldguide.training.probe.LBFGS_LIMIT; epochs and device serve the mini-batch fit
    optimiser: str = "auto"  # auto | lbfgs | sgd | adam
    epochs: int = 10
    device: str = "cpu"  # cpu (NumPy) | cuda | torch-cpu | auto (CUDA when there is one)


@dataclass
class RunSpec:
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision on a GPU (bfloat16); ignored on the CPU
    threads: int = 2
    export_onnx: bool = True
    stop_after_epoch: int = 0  # stop as if killed after this epoch (resume tests)
    progress: bool = True


@dataclass
class TrainSpec:
    name: str = "run"
    mode: str = "linear-probe"
    seed: int = 0
    out: str = ""
    preset: str = ""
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    augment: AugmentSpec = field(default_factory=AugmentSpec)
    optim: OptimSpec = field(default_factory=OptimSpec)
    imbalance: ImbalanceSpec = field(default_factory=ImbalanceSpec)
    probe: ProbeSpec = field(default_factory=ProbeSpec)
    run: RunSpec = field(default_factory=RunSpec)
    base: str = ""  # folder that relative paths are read from

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() or not self.base else Path(self.base) / path


CHOICES = {
    "mode": MODES, "data.label_kind": ("species", "trait"),
    "optim.optimizer": ("sgd", "rmsprop", "adamw"),
    "optim.schedule": ("constant", "step", "cosine"),
    "imbalance.sampling": ("uniform", "class-balanced", "sqrt"),
    "imbalance.loss_weights": ("none", "inverse", "effective"),
    "run.device": ("auto", "cpu", "cuda"),
    "probe.optimiser": ("auto", "lbfgs", "sgd", "adam"),
    "probe.device": ("auto", "cpu", "cuda", "torch-cpu"),
}


def _coerce(value: Any, kind: Any, key: str, path: Path | None) -> Any:
    """Check one value against its field type (ints accepted where floats are expected)."""
    origin = typing.get_origin(kind)
    if origin is types.UnionType:
        options = typing.get_args(kind)
        for option in options:
            try:
                return _coerce(value, option, key, path)
            except InputError:
                continue
        names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
        raise InputError(f"expected {names}, got {value!r}", path=path, field=key)
    if origin is list:
        (item,) = typing.get_args(kind)
        if not isinstance(value, list):
            raise InputError("expected a list", path=path, field=key)
        return [_coerce(v, item, key, path) for v in value]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise InputError(f"expected {kind.__name__}, got {value!r}", path=path, field=key)
    return value


def _fill(target: Any, table: dict[str, Any], prefix: str, path: Path | None) -> None:
    hints = typing.get_type_hints(type(target))
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if key not in hints or key == "base":
            raise InputError(f"unknown key '{dotted}'", path=path, field=dotted)
        if dataclasses.is_dataclass(hints[key]):
            if not isinstance(value, dict):
                raise InputError("expected a table", path=path, field=dotted)
            _fill(getattr(target, key), value, f"{dotted}.", path)
            continue
        value = _coerce(value, hints[key], dotted, path)
        if dotted in CHOICES and value not in CHOICES[dotted]:
            raise InputError(f"{value!r} is not one of {', '.join(CHOICES[dotted])}",
                             path=path, field=dotted)
        setattr(target, key, value)


def parse_spec(table: dict[str, Any], path: Path | None = None) -> TrainSpec:
    """A spec from a TOML table: preset values first, then the table's own."""
    from fieldguide.training.presets import PRESETS

    spec = TrainSpec()
    preset = table.get("preset", "")
    if preset:
        if preset not in PRESETS:
            raise InputError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})",
                             path=path, field="preset")
        _fill(spec, PRESETS[preset], "", path)
    _fill(spec, table, "", path)
    if not spec.data.manifest:
        raise InputError("a manifest is required", path=path, field="data.manifest")
    if spec.optim.batch_size < 1 or spec.optim.epochs < 0:
        raise InputError("batch_size must be >= 1 and epochs >= 0", path=path, field="optim")
    if spec.probe.epochs < 1:
        raise InputError("probe epochs must be >= 1", path=path, field="probe.epochs")
    if spec.data.ranks and spec.data.label_kind != "species":
        raise InputError("rank heads need a species label", path=path, field="data.ranks")
    _check_backbones(spec, path)
    spec.base = str(path.parent.resolve()) if path is not None else ""
    return spec


def backbones(spec: TrainSpec) -> list[str]:
    """The spec's backbone names, in embedding order."""
    b = spec.model.backbone
    return list(b) if isinstance(b, list) else [b]


def on_encoders(spec: TrainSpec) -> bool:
    """Whether the run is a probe on ONNX encoders (``fieldguide.models.encoders``): a
    concatenation, or a backbone that exists only as ONNX."""
    from fieldguide.models.registry import backbone_info

    names = backbones(spec)
    return len(names) > 1 or not backbone_info(names[0]).fine_tunes


def _check_backbones(spec: TrainSpec, path: Path | None) -> None:
    from fieldguide.models.registry import backbone_info

    names = backbones(spec)
    if not names or len(set(names)) != len(names):
        raise InputError("name one backbone or a list of different ones", path=path,
                         field="model.backbone")
    for name in names:
        backbone_info(name)  # unknown names are refused here, naming the registered ones
    if on_encoders(spec):
        what = "a concatenation" if len(names) > 1 else f"{names[0]} (it exists only as ONNX)"
        if spec.mode != "linear-probe" or spec.probe.warm_start:
            raise InputError(f"{what} serves linear probes only: set mode = \"linear-probe\" "
                             "(fine-tuning needs one timm backbone: lite0, lite1, lite2)",
                             path=path, field="mode")
        if spec.model.weights != "imagenet":
            raise InputError(f"{what} uses the weights its packages ship: weights = "
                             "\"imagenet\"", path=path, field="model.weights")


def load_spec(path: Path) -> TrainSpec:
    """Read and check a TOML training spec."""
    try:
        table = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(str(exc), path=path) from None
    return parse_spec(table, Path(path))


def run_folder(spec: TrainSpec, out: Path | None) -> Path:
    """Where a run writes: ``out``, else the spec's ``out``, else ``runs/<name>``."""
    if out is not None:
        return Path(out)
    return (spec.resolve(spec.out) if spec.out else Path("runs") / spec.name).resolve()

"""The training spec: a TOML file parsed into dataclasses, every key checked before any work.

``preset = "reeb2022"`` (or ``"inat2017"``) starts from a published recipe; the tables below it
override single values. Relative paths are read from the spec file's folder. Each value is
checked for its type, its choices and its range (:data:`LIMITS`) as it is read, so a bad value
is one line naming the file, the key and its line, never a traceback from deep in a run.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldguide.errors import InputError
from fieldguide.taxonomy.ranks import MAIN_RANKS, RANK_LEVELS

MODES = ("linear-probe", "partial", "full")


@dataclass
class DataSpec:
    manifest: str = ""
    # instead of a manifest: vectors computed before (an embeddings Parquet file in the import
    # format, or a store folder with its labels); the run fits a heads-only model
    embeddings: str = ""
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


def _within(low: float, high: float | None, *, open_low: bool = False,
            open_high: bool = False) -> Callable[[Any], str | None]:
    """A range check: the reason a number is outside [low, high] (ends open on request)."""
    def num(x: float) -> str:
        return str(int(x)) if x == int(x) else f"{x:g}"

    if high is None:
        shown = f"{'>' if open_low else '>='} {num(low)}"
    else:
        shown = f"in {'(' if open_low else '['}{num(low)}, {num(high)}{')' if open_high else ']'}"

    def check(value: Any) -> str | None:
        below = value <= low if open_low else value < low
        above = high is not None and (value >= high if open_high else value > high)
        return f"must be {shown}, got {value!r}" if below or above else None

    return check


def _ratio(value: list[float]) -> str | None:
    if len(value) != 2 or not 0 < value[0] <= value[1]:
        return f"{value!r}: write [low, high] with 0 < low <= high (e.g. [0.75, 1.333])"
    return None


def _ranks(value: list[str]) -> str | None:
    for rank in value:
        if rank not in RANK_LEVELS:
            close = difflib.get_close_matches(rank.lower(), RANK_LEVELS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            return f"{rank!r} is not a rank ({hint}ranks: {', '.join(MAIN_RANKS)}, ...)"
    if len(set(value)) != len(value):
        return "a rank is listed twice"
    return None


def _named(value: str | list[str]) -> str | None:
    names = value if isinstance(value, list) else [value]
    return "a name is empty" if any(not n.strip() for n in names) else None


#: The range of each value that has one, by dotted key: a function giving the reason a value
#: is refused, or None. Checked as each value is read, so presets are held to the same limits.
LIMITS: dict[str, Callable[[Any], str | None]] = {
    "name": _named,
    "seed": _within(0, 2**32 - 1),
    "data.label": _named,
    "data.ranks": _ranks,
    "data.traits": _named,
    "data.val_split": _named,
    "data.test_split": _named,
    "data.workers": _within(0, None),
    "data.max_per_class": _within(0, None),
    "model.image_size": _within(0, 4096),
    "model.dropout": _within(0, 1, open_high=True),
    "model.partial_blocks": _within(1, None),
    "augment.scale_min": _within(0, 1, open_low=True),
    "augment.ratio": _ratio,
    "augment.color_jitter": _within(0, None),
    "optim.lr": _within(0, None, open_low=True),
    "optim.momentum": _within(0, 1, open_high=True),
    "optim.alpha": _within(0, 1, open_high=True),
    "optim.eps": _within(0, None, open_low=True),
    "optim.weight_decay": _within(0, None),
    "optim.batch_size": _within(1, None),
    "optim.epochs": _within(1, None),
    "optim.step_epochs": _within(1, None),
    "optim.gamma": _within(0, 1, open_low=True),
    "optim.label_smoothing": _within(0, 1, open_high=True),
    "imbalance.beta": _within(0, 1, open_high=True),
    "imbalance.logit_adjust": _within(0, None),
    "probe.l2": _within(0, None),
    "probe.max_iter": _within(1, None),
    "probe.epochs": _within(1, None),
    "run.threads": _within(1, None),
    "run.stop_after_epoch": _within(0, None),
}


def _fill(target: Any, table: dict[str, Any], prefix: str, path: Path | None) -> None:
    hints = typing.get_type_hints(type(target))
    for key, value in table.items():
        # a key is the file's text: one with a line break or a control character is shown
        # escaped, so the refusal stays one line
        dotted = f"{prefix}{key if key.isprintable() else repr(key)[1:-1]}"
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
        reason = LIMITS[dotted](value) if dotted in LIMITS else None
        if reason is not None:
            raise InputError(reason, path=path, field=dotted)
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
    _check_data(spec, path)
    if spec.data.ranks and spec.data.label_kind != "species":
        raise InputError("rank heads need a species label", path=path, field="data.ranks")
    if not spec.data.embeddings:
        _check_backbones(spec, path)
    spec.base = str(path.parent.resolve()) if path is not None else ""
    return spec


def _check_data(spec: TrainSpec, path: Path | None) -> None:
    """Exactly one of ``manifest`` (photos) and ``embeddings`` (vectors, heads only)."""
    d = spec.data
    if d.manifest and d.embeddings:
        raise InputError("name a manifest or embeddings, not both", path=path,
                         field="data.embeddings")
    if not d.manifest and not d.embeddings:
        raise InputError("a manifest is required (or embeddings: vectors computed before)",
                         path=path, field="data.manifest")
    if d.embeddings and (spec.mode != "linear-probe" or spec.probe.warm_start):
        raise InputError("embeddings train the heads only: set mode = \"linear-probe\"",
                         path=path, field="mode")


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
    """Read and check a TOML training spec (read through ``fieldguide.inputs``: a regular
    file, UTF-8, the first bad byte located); a refused value names its line."""
    from fieldguide.inputs.tomlfile import load_toml_spec

    return load_toml_spec(path, "training spec", parse_spec)


def run_folder(spec: TrainSpec, out: Path | None) -> Path:
    """Where a run writes: ``out``, else the spec's ``out``, else ``runs/<name>``."""
    if out is not None:
        return Path(out)
    return (spec.resolve(spec.out) if spec.out else Path("runs") / spec.name).resolve()

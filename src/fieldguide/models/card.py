"""The model card: the one reader and writer of ``model.json`` (torch-free).

``model.json`` is the hand-off from training to everything after it (evaluation, calibration,
identification, rejection, search, the service). It says what the weights need to be used
without the training code: the classes of every head with their full lineage, the ONNX
outputs, preprocessing, calibration, provenance and add-ons that later stages fit (the
rejection combiner). Every stage reads and writes it through this module, and a card is
validated when read, so a bad file is one error naming the key, never a NumPy traceback.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.inputs.files import write_text_atomic
from fieldguide.taxonomy.ranks import MAIN_RANKS

FORMAT = "fieldguide-model/1"
FILE = "model.json"
HEAD_KINDS = ("species", "rank", "trait")
#: The ranks a class's lineage may name, finest first (the walk-up's ranks).
_INTERPOLATIONS = ("bicubic", "bilinear", "nearest")
_EMPTY = {"", "none", "nan", "null"}


@dataclass(frozen=True)
class Preprocessing:
    """How pixels reach the network (see ``fieldguide.models.pixels``)."""

    size: int = 224
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bicubic"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any, where: Path | None = None) -> Preprocessing:
        if not isinstance(d, dict):
            raise InputError("must be a mapping", path=where, field="preprocessing")
        try:
            size, crop_pct = int(d["size"]), float(d["crop_pct"])
            mean = tuple(float(v) for v in d["mean"])
            std = tuple(float(v) for v in d["std"])
            interpolation = str(d["interpolation"])
        except KeyError as exc:
            raise InputError("missing key", path=where, field=f"preprocessing.{exc.args[0]}") \
                from None
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(1e309)
            raise InputError("size, crop_pct, mean and std must be numbers", path=where,
                             field="preprocessing") from None
        checks = [("size", 8 <= size <= 4096, "an integer in [8, 4096]"),
                  ("crop_pct", 0.05 <= crop_pct <= 1.0, "in [0.05, 1]"),
                  ("mean", len(mean) == 3 and all(0 <= m <= 1 for m in mean),
                   "three values in [0, 1]"),
                  ("std", len(std) == 3 and all(0 < s <= 10 for s in std),
                   "three values in (0, 10]"),
                  ("interpolation", interpolation in _INTERPOLATIONS,
                   f"one of {', '.join(_INTERPOLATIONS)}")]
        for key, ok, what in checks:
            if not ok:
                raise InputError(f"must be {what}", path=where, field=f"preprocessing.{key}")
        return cls(size, crop_pct, (mean[0], mean[1], mean[2]), (std[0], std[1], std[2]),
                   interpolation)


@dataclass(frozen=True)
class HeadSpec:
    """One output: its name (also the ONNX output name), kind, manifest column and classes."""

    name: str
    kind: str
    column: str
    classes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "column": self.column,
                "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: Any, where: Path | None = None, i: int = 0) -> HeadSpec:
        key = f"heads[{i}]"
        if not isinstance(d, dict):
            raise InputError("must be a mapping", path=where, field=key)
        name, kind, classes = d.get("name"), d.get("kind"), d.get("classes")
        if not isinstance(name, str) or not name:
            raise InputError("needs a name", path=where, field=f"{key}.name")
        if kind not in HEAD_KINDS:
            raise InputError(f"kind {kind!r} is not one of {', '.join(HEAD_KINDS)}", path=where,
                             field=f"{key}.kind")
        if not isinstance(classes, list) or not classes or \
                not all(isinstance(c, str) and c for c in classes):
            raise InputError("classes must be a non-empty list of names", path=where,
                             field=f"{key}.classes")
        if len(set(classes)) != len(classes):
            raise InputError("a class is listed twice", path=where, field=f"{key}.classes")
        return cls(name, str(kind), str(d.get("column") or name), tuple(classes))


def log_membership(species: tuple[str, ...], lineage: dict[str, dict[str, str]], rank: str,
                   groups: tuple[str, ...]) -> np.ndarray:
    """log M with M[i, j] = 1 when species i belongs to rank group j (else -inf): a rank
    head's log-probabilities are logsumexp_i(log p_i + log M[i, j]) over the species head."""
    index = {g: j for j, g in enumerate(groups)}
    log_m = np.full((len(species), len(groups)), -np.inf, dtype=np.float32)
    for i, name in enumerate(species):
        group = lineage.get(name, {}).get(rank)
        if group is None:
            raise ValueError(f"class {name!r} has no {rank} in its lineage: a {rank} head "
                             "needs every class placed at that rank")
        log_m[i, index[group]] = 0.0
    return log_m


def _finite(number: int | float) -> bool:
    """math.isfinite that takes any JSON number (an int too large for a float is not)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def clean_lineage(lineage: dict[str, Any]) -> dict[str, str]:
    """A class's {rank: name} without empty ranks: a missing rank is absent, never "None"."""
    return {r: str(v) for r, v in lineage.items()
            if r in MAIN_RANKS and v is not None and str(v).strip().lower() not in _EMPTY}


@dataclass
class ModelCard:
    """What ``model.json`` holds. ``lineage`` maps each species-head class to its taxa at
    the coarser ranks (``{"Quercus alba": {"genus": "Quercus", "family": "Fagaceae"}}``);
    ``outputs`` names the ONNX outputs (the heads, then ``embedding`` and, where the
    backbone's ImageNet classifier is kept, ``imagenet``); ``extras`` holds what later stages
    fit into the artefact (``rejection``). ``encoders`` describes, for a probe on ONNX
    encoders (one backbone that exists only as ONNX, or a concatenation such as
    ``lite2+dinov2-s14``), each encoder in embedding order: its backbone, weights, own
    preprocessing and feature width; ``preprocessing`` is then the model input's crop.
    ``embeddings_from`` is set on a heads-only model (trained on embeddings, its
    ``model.onnx`` takes ``embedding`` vectors, not photos): the identity of the encoder
    that computed them (a store's), or ``"external"`` for vectors computed elsewhere."""

    backbone: str
    heads: list[HeadSpec]
    preprocessing: Preprocessing
    lineage: dict[str, dict[str, str]] = field(default_factory=dict)
    name: str = "model"
    version: str = "1"
    weights: str = "random"
    dropout: float = 0.0
    train_counts: dict[str, list[int]] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    temperature: float | None = None
    onnx: str | None = None
    outputs: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    encoders: list[dict[str, Any]] = field(default_factory=list)
    embeddings_from: dict[str, str] | str | None = None

    @property
    def heads_only(self) -> bool:
        """Whether the model scores embedding vectors rather than photos."""
        return self.embeddings_from is not None

    @property
    def backbones(self) -> list[str]:
        """The backbone names in embedding order (one, or those of a concatenation)."""
        return [str(e["backbone"]) for e in self.encoders] or [self.backbone]

    @property
    def primary(self) -> HeadSpec:
        """The head that identifies: the species head, else the first one."""
        return next((h for h in self.heads if h.kind == "species"), self.heads[0])

    @property
    def classes(self) -> list[str]:
        """The primary head's classes, in output order."""
        return list(self.primary.classes)

    def head(self, name: str) -> HeadSpec:
        for h in self.heads:
            if h.name == name:
                return h
        raise InputError(f"the model has no head {name!r} (heads: "
                         f"{', '.join(h.name for h in self.heads)})", field="head")

    def with_lineage(self, lineage: dict[str, dict[str, Any]]) -> ModelCard:
        return replace(self, lineage={c: clean_lineage(v) for c, v in lineage.items()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "name": self.name, "version": self.version,
            "backbone": self.backbone, "weights": self.weights,
            "heads": [h.to_dict() for h in self.heads], "primary": self.primary.name,
            "outputs": self.outputs, "lineage": self.lineage,
            "preprocessing": self.preprocessing.to_dict(), "dropout": self.dropout,
            "train_counts": self.train_counts, "spec": self.spec, "metrics": self.metrics,
            "temperature": self.temperature, "onnx": self.onnx, "extras": self.extras,
            "encoders": self.encoders, "embeddings_from": self.embeddings_from,
        }

    @classmethod
    def from_dict(cls, d: Any, where: Path | None = None) -> ModelCard:
        """A validated card; every refusal names the key that is wrong."""
        if not isinstance(d, dict):
            raise InputError("model.json must hold a JSON object", path=where)
        if d.get("format") != FORMAT:
            raise InputError(f"not a {FORMAT} model card", path=where, field="format")
        heads_raw = d.get("heads")
        if not isinstance(heads_raw, list) or not heads_raw:
            raise InputError("must be a non-empty list", path=where, field="heads")
        heads = [HeadSpec.from_dict(h, where, i) for i, h in enumerate(heads_raw)]
        if len({h.name for h in heads}) != len(heads):
            raise InputError("two heads share a name", path=where, field="heads")
        primary = d.get("primary")
        if primary is not None and (not isinstance(primary, str)
                                    or primary not in {h.name for h in heads}):
            raise InputError(f"primary head {primary!r} is not one of the heads", path=where,
                             field="primary")
        temperature = d.get("temperature")
        if temperature is not None and (
                isinstance(temperature, bool) or not isinstance(temperature, int | float)
                or not _finite(temperature) or temperature <= 0):
                raise InputError("must be a number > 0 (or null)", path=where,
                                 field="temperature")
        raw_lineage = d.get("lineage", d.get("taxonomy", {}))  # "taxonomy": cards before v0.2
        if not isinstance(raw_lineage, dict) or \
                not all(isinstance(v, dict) for v in raw_lineage.values()):
            raise InputError("must map each class to {rank: name}", path=where, field="lineage")
        outputs = d.get("outputs")
        if not isinstance(outputs, list):  # older cards described the outputs in words
            outputs = [h.name for h in heads]
        for key in ("train_counts", "spec", "metrics", "extras"):
            if not isinstance(d.get(key, {}), dict):
                raise InputError("must be a mapping", path=where, field=key)
        encoders = d.get("encoders", [])
        if not isinstance(encoders, list) or not all(
                isinstance(e, dict) and isinstance(e.get("backbone"), str) for e in encoders):
            raise InputError("must be a list of {backbone, ...} mappings", path=where,
                             field="encoders")
        source = d.get("embeddings_from")
        if not (source is None or source == "external" or (
                isinstance(source, dict) and isinstance(source.get("backbone"), str)
                and all(isinstance(v, str) for v in source.values()))):
            raise InputError('must be null, "external" or an encoder identity (backbone, '
                             'weights, preprocessing, onnx_sha256)', path=where,
                             field="embeddings_from")
        try:
            dropout = float(d.get("dropout", 0.0))
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int of 400 digits
            raise InputError("must be a number", path=where, field="dropout") from None
        card = cls(
            backbone=str(d.get("backbone") or ""), heads=heads,
            preprocessing=Preprocessing.from_dict(d.get("preprocessing"), where),
            lineage={str(c): clean_lineage(v) for c, v in raw_lineage.items()},
            name=str(d.get("name") or "model"), version=str(d.get("version") or "1"),
            weights=str(d.get("weights") or "random"), dropout=dropout,
            train_counts=d.get("train_counts", {}), spec=d.get("spec", {}),
            metrics=d.get("metrics", {}),
            temperature=None if temperature is None else float(temperature),
            onnx=None if d.get("onnx") is None else str(d["onnx"]),
            outputs=[str(o) for o in outputs], extras=d.get("extras", {}), encoders=encoders,
            embeddings_from=source)
        if primary is not None and card.primary.name != primary:
            card.heads.sort(key=lambda h: h.name != primary)
        return card


def read_card(folder: str | Path) -> ModelCard:
    """The validated card of a model folder."""
    folder = Path(folder)
    path = folder / FILE
    if not path.is_file():
        raise InputError("not a model folder (no model.json)", path=folder)
    return ModelCard.from_dict(card_json(path), path)


def card_json(path: Path) -> Any:
    """A card file's JSON (a model's ``model.json``, a family's ``family.json``), each way it
    can be unreadable refused in one line."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 (byte offset {exc.start})", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    except RecursionError:
        raise InputError("invalid JSON: nested too deep", path=path) from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise InputError(f"invalid JSON: {exc}", path=path) from None


def write_card(card: ModelCard, folder: str | Path) -> Path:
    """(Re)write ``model.json`` atomically, so a crash never leaves half a card."""
    return write_text_atomic(Path(folder) / FILE,
                             json.dumps(card.to_dict(), indent=2, default=str) + "\n")


def update_card(folder: str | Path, **changes: Any) -> ModelCard:
    """Set fields of a folder's card (e.g. the temperature, an ``extras`` entry) and rewrite
    it; the result is validated as any card read from disk."""
    card = replace(read_card(folder), **changes)
    ModelCard.from_dict(json.loads(json.dumps(card.to_dict(), default=str)), Path(folder))
    write_card(card, folder)
    return card

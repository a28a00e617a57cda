"""Backbone registry, heads, the model artefact and ONNX export.

Names load lazily so that ``fieldguide.models.runtime`` (ONNX identification) never imports
torch: ``from fieldguide.models import create_backbone`` imports what it needs on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fieldguide.models.artefact import (
        ModelCard,
        build_model,
        load_model,
        read_card,
        save_model,
        write_card,
    )
    from fieldguide.models.heads import FieldguideNet, HeadSpec, multi_head_loss
    from fieldguide.models.onnx import export_onnx, onnx_max_diff
    from fieldguide.models.registry import (
        BACKBONES,
        Preprocessing,
        backbone_info,
        create_backbone,
        imagenet_file,
        weights_id,
    )
    from fieldguide.models.runtime import OnnxModel

_WHERE = {
    "ModelCard": "artefact", "build_model": "artefact", "load_model": "artefact",
    "read_card": "artefact", "save_model": "artefact", "write_card": "artefact",
    "FieldguideNet": "heads", "HeadSpec": "heads", "multi_head_loss": "heads",
    "export_onnx": "onnx", "onnx_max_diff": "onnx", "BACKBONES": "registry",
    "Preprocessing": "registry", "backbone_info": "registry", "create_backbone": "registry",
    "imagenet_file": "registry", "weights_id": "registry", "OnnxModel": "runtime",
}
__all__ = [
    "BACKBONES",
    "FieldguideNet",
    "HeadSpec",
    "ModelCard",
    "OnnxModel",
    "Preprocessing",
    "backbone_info",
    "build_model",
    "create_backbone",
    "export_onnx",
    "imagenet_file",
    "load_model",
    "multi_head_loss",
    "onnx_max_diff",
    "read_card",
    "save_model",
    "weights_id",
    "write_card",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"fieldguide.models.{_WHERE[name]}"), name)

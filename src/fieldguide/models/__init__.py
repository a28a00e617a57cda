"""Backbone registry, heads, the model card, the pixel path, the artefact and ONNX export.

``card`` (model.json) and ``pixels`` (decoding and the crop) are torch-free and are what the
stages after training use; names load lazily, so importing one of them never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fieldguide.models.artefact import build_model, load_model, save_model
    from fieldguide.models.card import (
        HeadSpec,
        ModelCard,
        Preprocessing,
        read_card,
        update_card,
        write_card,
    )
    from fieldguide.models.heads import FieldguideNet, multi_head_loss
    from fieldguide.models.onnx import export_onnx, onnx_max_diff
    from fieldguide.models.pixels import Crop, ImageLimits, load_crop, open_image
    from fieldguide.models.registry import (
        BACKBONES,
        backbone_info,
        create_backbone,
        imagenet_file,
        weights_id,
    )

_WHERE = {
    "build_model": "artefact", "load_model": "artefact", "save_model": "artefact",
    "HeadSpec": "card", "ModelCard": "card", "Preprocessing": "card", "read_card": "card",
    "update_card": "card", "write_card": "card",
    "FieldguideNet": "heads", "multi_head_loss": "heads",
    "export_onnx": "onnx", "onnx_max_diff": "onnx",
    "Crop": "pixels", "ImageLimits": "pixels", "load_crop": "pixels", "open_image": "pixels",
    "BACKBONES": "registry", "backbone_info": "registry", "create_backbone": "registry",
    "imagenet_file": "registry", "weights_id": "registry",
}
__all__ = [
    "BACKBONES", "Crop", "FieldguideNet", "HeadSpec", "ImageLimits", "ModelCard",
    "Preprocessing", "backbone_info", "build_model", "create_backbone", "export_onnx",
    "imagenet_file", "load_crop", "load_model", "multi_head_loss", "onnx_max_diff",
    "open_image", "read_card", "save_model", "update_card", "weights_id", "write_card",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"fieldguide.models.{_WHERE[name]}"), name)

"""The model artefact as PyTorch sees it: a folder with ``model.safetensors`` + ``model.json``
(+ ``model.onnx``). The card itself is read and written only by ``fieldguide.models.card``."""

from __future__ import annotations

from pathlib import Path

from fieldguide.errors import InputError
from fieldguide.models.card import ModelCard, read_card, write_card
from fieldguide.models.heads import FieldguideNet
from fieldguide.models.registry import create_backbone

__all__ = ["ModelCard", "build_model", "load_model", "read_card", "save_model", "write_card"]


def build_model(card: ModelCard, weights: str | Path | None = None) -> FieldguideNet:
    """A network shaped as the card says (backbone weights optional, heads fresh)."""
    backbone = create_backbone(card.backbone, weights, num_classes=0)
    net = FieldguideNet(backbone, card.heads, card.lineage, card.dropout)
    if "imagenet" in card.outputs:  # shaped now, filled by load_model from the weights file
        import torch

        from fieldguide.models.heads import feature_width

        width = feature_width(backbone)
        net.keep_imagenet(torch.zeros(1000, width), torch.zeros(1000))
    return net


def save_model(model: FieldguideNet, card: ModelCard, folder: Path) -> Path:
    """Write the weights (safetensors: tensors only, safe to load) and the card."""
    from safetensors.torch import save_model as save_tensors

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_tensors(model, str(folder / "model.safetensors"))
    write_card(card, folder)
    return folder


def load_model(folder: Path) -> tuple[FieldguideNet, ModelCard]:
    """The network in eval mode and its card."""
    from safetensors.torch import load_model as load_tensors

    card = read_card(folder)
    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        raise InputError("the artefact has no weights (model.safetensors)", path=path)
    with path.open("rb") as f:
        head = f.read(8)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise InputError("this is a pickle (torch.save) file, which fieldguide never loads: "
                         "weights must be safetensors", path=path)
    model = build_model(card)
    try:
        load_tensors(model, str(path))
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise InputError(f"weights do not load: {str(exc).splitlines()[0]}", path=path) from None
    return model.eval(), card

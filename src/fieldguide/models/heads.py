"""Output heads on a shared backbone: flat species, taxonomic ranks, traits.

Rank heads are *tied* to the species head: a genus' probability is the sum of its species'
probabilities (a log-sum-exp over the species log-probabilities), so the ranks can never
disagree with the species and a photo labelled only to genus still trains the species head
through the genus loss. Trait heads (phenology, life stage) are their own linear layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from fieldguide.models.card import HEAD_KINDS as KINDS
from fieldguide.models.card import HeadSpec, log_membership

__all__ = ["KINDS", "FieldguideNet", "HeadSpec", "multi_head_loss", "rank_membership"]


def rank_membership(species: tuple[str, ...], taxonomy: dict[str, dict[str, str]], rank: str,
                    groups: tuple[str, ...]) -> Tensor:
    """log M as a tensor (see ``fieldguide.models.card.log_membership``)."""
    return torch.from_numpy(log_membership(species, taxonomy, rank, groups))


def feature_width(backbone: nn.Module) -> int:
    """Width of the pooled features (timm: after MobileNetV3's conv head, if any)."""
    found: Any = getattr(backbone, "head_hidden_size", None) or backbone.num_features
    return int(found)


class FieldguideNet(nn.Module):
    """Backbone + heads; ``forward`` returns {head name: logits (log-probs for ranks)}."""

    def __init__(self, backbone: nn.Module, heads: list[HeadSpec],
                 taxonomy: dict[str, dict[str, str]] | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.specs = list(heads)
        self.dropout = nn.Dropout(dropout)
        width = feature_width(backbone)
        self.linear = nn.ModuleDict(
            {h.name: nn.Linear(width, len(h.classes)) for h in heads if h.kind != "rank"})
        species = next((h for h in heads if h.kind == "species"), None)
        for h in heads:
            if h.kind not in KINDS:
                raise ValueError(f"unknown head kind {h.kind!r}")
            if h.kind == "rank":
                if species is None or taxonomy is None:
                    raise ValueError("rank heads need a species head and the class taxonomy")
                m = rank_membership(species.classes, taxonomy, h.column, h.classes)
                self.register_buffer(f"rank_{h.name}", m, persistent=False)
        self.species = species.name if species else None
        #: The backbone's own ImageNet classifier, kept frozen beside the heads when the
        #: weights come with one: rejection scores photos far from every training taxon by it.
        self.imagenet: nn.Linear | None = None

    def keep_imagenet(self, weight: Tensor, bias: Tensor) -> None:
        """Attach the backbone's ImageNet classifier (frozen; an extra ONNX output)."""
        layer = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)
        layer.requires_grad_(False)
        self.imagenet = layer

    @property
    def head_names(self) -> list[str]:
        return [h.name for h in self.specs]

    @property
    def output_names(self) -> list[str]:
        """The exported outputs: the heads in order, then the pooled ``embedding`` (search,
        rejection) and, where the ImageNet classifier is kept, its ``imagenet`` logits."""
        return [*self.head_names, "embedding", *(["imagenet"] if self.imagenet else [])]

    def features(self, x: Tensor) -> Tensor:
        """Pooled backbone features (what the linear probe caches)."""
        out: Tensor = self.backbone(x)
        return out

    def heads(self, feats: Tensor) -> dict[str, Tensor]:
        """Heads on features, so a probe trained on cached embeddings is this very module."""
        feats = self.dropout(feats)
        out = {name: layer(feats) for name, layer in self.linear.items()}
        if self.species is not None:
            log_p = torch.log_softmax(out[self.species], dim=1)
            for h in self.specs:
                if h.kind == "rank":
                    log_m: Tensor = getattr(self, f"rank_{h.name}")
                    out[h.name] = torch.logsumexp(log_p[:, :, None] + log_m[None], dim=1)
        return {h.name: out[h.name] for h in self.specs}

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.heads(self.features(x))


def multi_head_loss(outputs: dict[str, Tensor], targets: dict[str, Tensor],
                    weights: Mapping[str, Tensor | None] | None = None,
                    adjust: dict[str, Tensor] | None = None, smoothing: float = 0.0) -> Tensor:
    """Sum of per-head cross-entropies; label -1 means "not scored" and is ignored.

    ``adjust`` adds tau*log(prior) to a head's logits during training (logit adjustment);
    ``smoothing`` is label smoothing.
    """
    total = torch.zeros((), device=next(iter(outputs.values())).device)
    for name, logits in outputs.items():
        y = targets.get(name)
        if y is None or bool((y < 0).all()):
            continue
        if adjust is not None and name in adjust:
            logits = logits + adjust[name]
        w = weights.get(name) if weights else None
        total = total + nn.functional.cross_entropy(logits.float(), y, weight=w, ignore_index=-1,
                                                    label_smoothing=smoothing)
    return total

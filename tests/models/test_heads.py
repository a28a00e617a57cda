from __future__ import annotations

import torch

from fieldguide.models.heads import FieldguideNet, HeadSpec, multi_head_loss
from fieldguide.models.registry import create_backbone

TAXONOMY = {"a": {"genus": "G"}, "b": {"genus": "G"}, "c": {"genus": "H"}}
HEADS = [HeadSpec("taxon", "species", "taxon", ("a", "b", "c")),
         HeadSpec("genus", "rank", "genus", ("G", "H")),
         HeadSpec("phenology4", "trait", "phenology4", ("veg", "bud", "flower", "fruit"))]


def _net() -> FieldguideNet:
    torch.manual_seed(0)
    return FieldguideNet(create_backbone("test_efficientnet"), HEADS, TAXONOMY).eval()


def test_rank_probabilities_sum_species_probabilities() -> None:
    out = _net()(torch.randn(3, 3, 32, 32))
    species = out["taxon"].softmax(1)
    genus = out["genus"].exp()
    torch.testing.assert_close(genus[:, 0], species[:, 0] + species[:, 1])
    torch.testing.assert_close(genus.sum(1), torch.ones(3))
    assert out["phenology4"].shape == (3, 4)


def test_genus_only_label_trains_the_species_head() -> None:
    net = _net()
    out = net(torch.randn(2, 3, 32, 32))
    targets = {"taxon": torch.tensor([-1, -1]), "genus": torch.tensor([1, 1]),
               "phenology4": torch.tensor([-1, 2])}
    loss = multi_head_loss(out, targets)
    loss.backward()  # type: ignore[no-untyped-call]
    grad = net.linear["taxon"].weight.grad
    assert grad is not None and grad.abs().sum() > 0
    none = multi_head_loss(out, {"taxon": torch.tensor([-1, -1])})
    assert float(none) == 0.0


def test_logit_adjustment_changes_the_loss() -> None:
    out = _net()(torch.randn(2, 3, 32, 32))
    y = {"taxon": torch.tensor([0, 2])}
    plain = multi_head_loss(out, y)
    shifted = multi_head_loss(out, y, adjust={"taxon": torch.log(torch.tensor([.8, .1, .1]))})
    assert float(plain.detach()) != float(shifted.detach())

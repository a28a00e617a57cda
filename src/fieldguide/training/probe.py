"""The linear probe: the model's own heads fitted on cached embeddings by full-batch L-BFGS
(multinomial logistic regression with L2), seconds on a CPU, hence monthly retraining."""

from __future__ import annotations

import numpy as np
import torch

from fieldguide.models.heads import FieldguideNet, multi_head_loss


def fit_heads(model: FieldguideNet, feats: np.ndarray, targets: np.ndarray, *, l2: float,
              max_iter: int, class_weights: dict[str, np.ndarray | None] | None = None,
              adjust: dict[str, np.ndarray] | None = None) -> float:
    """Fit every head on (n, d) features and (n, heads) targets; return the final loss."""
    x = torch.from_numpy(feats).float()
    y = torch.from_numpy(targets).long()
    names = model.head_names
    target = {n: y[:, i] for i, n in enumerate(names)}
    weights = {n: torch.from_numpy(w).float() for n, w in (class_weights or {}).items()
               if w is not None}
    shift = {n: torch.from_numpy(a).float() for n, a in (adjust or {}).items()}
    params = [p for layer in model.linear.values() for p in layer.parameters()]
    mats: list[torch.Tensor] = [p for n, p in model.linear.named_parameters()
                                if n.endswith("weight")]
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe")
    model.eval()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = multi_head_loss(model.heads(x), target, weights, shift)
        for m in mats:
            loss = loss + l2 * (m**2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        return float(multi_head_loss(model.heads(x), target, weights, shift))

"""The rejection protocol of the decision core, beside the prior protocol of
:mod:`~fieldguide.identification.posterior`: what identification takes to reject unknown or
unusable photos. Its own leaf module, so the fitted rejection (its implementation), the batch
annotation and the service (its consumers) all import it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Rejection:
    """Per row: an out-of-distribution score (higher = less like the training photos),
    whether the photo is rejected and why ("" when kept)."""

    ood_score: np.ndarray
    rejected: np.ndarray
    reason: list[str]


class Rejector(Protocol):
    """Rejects unknown or unusable photos from the classifier's outputs (the fitted one is
    ``rejector.FittedRejector``)."""

    @property
    def outputs(self) -> tuple[str, ...]:
        """The classifier outputs it needs, besides ``logits``."""
        ...

    def reject(self, outputs: dict[str, np.ndarray], ok: np.ndarray) -> Rejection: ...

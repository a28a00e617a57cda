"""A heads-only model as identification sees it: a model trained on embeddings (card field
``embeddings_from``), whose ``model.onnx`` takes ``embedding`` vectors and gives every head
and the vectors back. It has the narrow interface of
:class:`~fieldguide.identification.classifier.Classifier` (card, classes, temperature,
``tree()``, outputs, ``run()``, ``identity()``) with vectors where the Classifier takes crops,
so the posterior, priors, walk-up rule and rejection see the same outputs either way."""

from __future__ import annotations

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.classifier import TAKES_PHOTOS, OnnxModel

#: Vectors per ONNX call: bounds memory on a million-row file, whatever its width.
BATCH_ROWS = 8192


class HeadsOnlyModel(OnnxModel):
    """A heads-only model folder: (n, width) float32 vectors in, the heads out."""

    def _check_card(self) -> None:
        if not self.card.heads_only:
            raise InputError(TAKES_PHOTOS, path=self.folder, field="embeddings_from")

    @property
    def width(self) -> int | None:
        """The vector width the graph takes (None when the export leaves it open)."""
        width = self.session.get_inputs()[0].shape[-1]
        return width if isinstance(width, int) else None

    def run(self, vectors: np.ndarray, names: list[str] | None = None
            ) -> dict[str, np.ndarray]:
        """(n, width) float32 -> {output name: (n, ...) float32}: ``logits`` (the primary
        head) plus every other output, or only those in ``names``, ``BATCH_ROWS`` at a time.
        An output no vector can give (``quality``, ``imagenet``: they need the photo) is
        refused in one line."""
        wanted = list(names or self.outputs)
        missing = [n for n in wanted if n != "logits" and n not in self.outputs]
        if missing:
            raise InputError(f"{missing[0]!r} needs the photos, not their embeddings "
                             "(identify with --no-reject)", path=self.path)
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        parts = [self._session_run(x[s:s + BATCH_ROWS], wanted)
                 for s in range(0, max(len(x), 1), BATCH_ROWS)]
        return {n: np.concatenate([p[n] for p in parts]) for n in parts[0]}

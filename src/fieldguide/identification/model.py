"""The one place identification opens a model folder. Two kinds of model sit behind the same
narrow interface the :class:`~fieldguide.identification.identifier.Identifier` uses
(``classes``, ``temperature``, ``tree()``, ``card``, ``outputs``, ``run()``, ``identity()``):
a photo model (:class:`~fieldguide.identification.classifier.Classifier`, crops in) and a
heads-only model (:class:`~fieldguide.identification.heads_only.HeadsOnlyModel`, embedding
vectors in), told apart by the card's ``embeddings_from``. A model family will be one more
kind opened here."""

from __future__ import annotations

from pathlib import Path

from fieldguide.identification.classifier import Classifier, OnnxModel
from fieldguide.identification.heads_only import HeadsOnlyModel
from fieldguide.models.card import read_card


def open_model(folder: str | Path, threads: int = 2, onnx: str | Path | None = None,
               spinning: bool = True) -> OnnxModel:
    """The model of a folder (its card and ONNX export, or ``onnx``, e.g. the int8 one): a
    :class:`Classifier`, or a :class:`HeadsOnlyModel` when the card says it was trained on
    embeddings; ``spinning=False`` for a server (see :class:`Classifier`)."""
    kind = HeadsOnlyModel if read_card(Path(folder)).heads_only else Classifier
    return kind(folder, threads, Path(onnx) if onnx else None, spinning)


def open_photo_model(folder: str | Path, threads: int = 2, onnx: str | Path | None = None,
                     spinning: bool = True) -> Classifier:
    """A model that scores photos (a heads-only card is refused in one line)."""
    return Classifier(folder, threads, Path(onnx) if onnx else None, spinning)

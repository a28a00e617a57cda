"""The one place identification opens a model folder. Three kinds of model sit behind the
same narrow interface the :class:`~fieldguide.identification.identifier.Identifier` uses
(``classes``, ``temperature``, ``tree()``, ``card``, ``outputs``, ``run()``, ``identity()``):
a photo model (:class:`~fieldguide.identification.classifier.Classifier`, crops in), a
heads-only model (:class:`~fieldguide.identification.heads_only.HeadsOnlyModel`, embedding
vectors in), told apart by the card's ``embeddings_from``, and a family of models (a folder
with ``family.json``: :class:`~fieldguide.family.model.FamilyModel`, crops in, one shared
encoder and its members; ``source`` picks a source's customised members)."""

from __future__ import annotations

from pathlib import Path

from fieldguide.errors import InputError
from fieldguide.identification.classifier import Classifier, OnnxModel
from fieldguide.identification.heads_only import HeadsOnlyModel
from fieldguide.models.card import read_card


def open_model(folder: str | Path, threads: int = 2, onnx: str | Path | None = None,
               spinning: bool = True, source: str | None = None) -> OnnxModel:
    """The model of a folder (its card and ONNX export, or ``onnx``, e.g. the int8 one): a
    :class:`Classifier`, a :class:`HeadsOnlyModel` when the card says it was trained on
    embeddings, or a family (``source``: whose customised members answer);
    ``spinning=False`` for a server (see :class:`Classifier`)."""
    from fieldguide.family.card import is_family

    if is_family(folder):
        return open_photo_model(folder, threads, onnx, spinning, source)
    if source is not None:
        raise InputError("--source picks a family's customisation: this is a single model "
                         "(no family.json)", path=folder, field="--source")
    kind = HeadsOnlyModel if read_card(Path(folder)).heads_only else Classifier
    return kind(folder, threads, Path(onnx) if onnx else None, spinning)


def open_photo_model(folder: str | Path, threads: int = 2, onnx: str | Path | None = None,
                     spinning: bool = True, source: str | None = None) -> Classifier:
    """A model that scores photos: a :class:`Classifier`, or a family of models (its
    ``source``'s members answering); a heads-only card is refused in one line."""
    from fieldguide.family.card import is_family

    if is_family(folder):
        if onnx:
            raise InputError("a family has one encoder and its members; --onnx names the "
                             "export of a single model", field="--onnx")
        from fieldguide.family.model import FamilyModel

        return FamilyModel(folder, threads, spinning, source)
    if source is not None:
        raise InputError("--source picks a family's customisation: this is a single model "
                         "(no family.json)", path=folder, field="--source")
    return Classifier(folder, threads, Path(onnx) if onnx else None, spinning)

"""The one place identification opens a model folder. Today every model is an ONNX export run
by :class:`~fieldguide.identification.classifier.Classifier`; a model family will be one more
kind of model opened here, behind the same narrow interface the
:class:`~fieldguide.identification.identifier.Identifier` uses (``classes``, ``temperature``,
``tree()``, ``card``, ``crop``, ``outputs``, ``run()``, ``identity()``)."""

from __future__ import annotations

from pathlib import Path

from fieldguide.identification.classifier import Classifier


def open_model(folder: str | Path, threads: int = 2, onnx: str | Path | None = None,
               spinning: bool = True) -> Classifier:
    """The model of a folder (its card and ONNX export, or ``onnx``, e.g. the int8 one);
    ``spinning=False`` for a server (see :class:`Classifier`)."""
    return Classifier(folder, threads, Path(onnx) if onnx else None, spinning)

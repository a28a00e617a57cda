"""Embeddings: one store of photo vectors per encoder, and vectors computed elsewhere.

- :class:`EmbeddingStore` (``store.py``): a folder of float32 ``.npy`` shards, read
  memory-mapped, keyed by the encoder's identity (:class:`EncoderIdentity`) and by photo
  (:func:`photo_key`); :func:`extend` is its one writer, resumable after a kill.
- :func:`build_store` (``build.py``): a model's ``embedding`` output into a store, scored here
  or by Ray actors (``fieldguide embed``).
- :func:`read_embeddings` (``external.py``): the import format (``docs/embeddings.md``) or a
  labelled store, checked; :func:`heads_only_outputs` runs a heads-only model on it.

Imports are lazy: NumPy only until a builder or reader is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fieldguide.embeddings.build import build_store, model_identity
    from fieldguide.embeddings.external import (
        LabelledEmbeddings,
        heads_only_outputs,
        read_embeddings,
        read_external,
    )
    from fieldguide.embeddings.store import (
        EmbeddingStore,
        EncoderIdentity,
        StoreWriter,
        extend,
        photo_key,
    )

_WHERE = {
    "EmbeddingStore": "store", "EncoderIdentity": "store", "StoreWriter": "store",
    "extend": "store", "photo_key": "store", "build_store": "build",
    "model_identity": "build", "LabelledEmbeddings": "external",
    "heads_only_outputs": "external", "read_embeddings": "external",
    "read_external": "external",
}
__all__ = [
    "EmbeddingStore",
    "EncoderIdentity",
    "LabelledEmbeddings",
    "StoreWriter",
    "build_store",
    "extend",
    "heads_only_outputs",
    "model_identity",
    "photo_key",
    "read_embeddings",
    "read_external",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"fieldguide.embeddings.{_WHERE[name]}"), name)

"""A model folder as identification sees it: the card (``model.json``) and ``model.onnx`` run
by ONNX Runtime on uint8 crops from the one pixel path. NumPy, Pillow and ONNX Runtime only:
identification never imports torch.

The one ONNX runtime of identification: the CLI, calibration, rejection, search, the service,
the Ray actors and the evaluation of probes on ONNX encoders all score through
:class:`Classifier` (training embeds through ``fieldguide.models.encoders.Embedder``, on
encoder graphs that have no heads yet). A heads-only model (trained on embeddings) shares the
session and card handling of :class:`OnnxModel`, in ``heads_only.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.decision import ClassTree, class_tree
from fieldguide.inputs.files import file_sha256
from fieldguide.models.card import ModelCard, read_card
from fieldguide.models.pixels import Crop, normalise

#: What a pixel model says to a heads-only card, and a heads-only model to a photo listing.
TAKES_EMBEDDINGS = "this model takes embeddings, not photos: give an embeddings Parquet or store"
TAKES_PHOTOS = ("this model takes photos, not embeddings: give a photo listing, folder or "
                "study")


def ort_session(model: Path | bytes, threads: int = 2, spinning: bool = True) -> Any:
    """An ONNX Runtime session on the CPU over a file or a serialised graph; a graph ONNX
    Runtime cannot load is refused in one line (see :class:`OnnxModel` for ``spinning``)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(model if isinstance(model, bytes) else str(model), opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for a bad graph
        raise InputError(f"not a usable ONNX model: {str(exc).splitlines()[0][:200]}",
                         path=None if isinstance(model, bytes) else model) from None


class OnnxModel:
    """What every model folder shares: the card, one ONNX Runtime session over its export
    (checked to have the primary head, as wide as the card's classes), the temperature and
    the class tree. :class:`Classifier` feeds it photos; a heads-only model
    (:class:`~fieldguide.identification.heads_only.HeadsOnlyModel`) embedding vectors."""

    def __init__(self, folder: str | Path, threads: int = 2, onnx: Path | None = None,
                 spinning: bool = True, card: ModelCard | None = None) -> None:
        """``spinning=False`` stops ONNX Runtime's threads from spin-waiting between calls:
        slower for back-to-back batches, but a server's decoding and HTTP threads keep the
        cores (on 2 cores, spinning threads starve them). ``card``: the card of a model
        whose folder holds none of its own (a family's, made from ``family.json``)."""
        self.folder = Path(folder)
        self.card: ModelCard = card if card is not None else read_card(self.folder)
        self._check_card()
        path = Path(onnx) if onnx else self.folder / (self.card.onnx or "model.onnx")
        if not path.is_file():
            raise InputError("the artefact has no ONNX export (train with run.export_onnx)",
                             path=path)
        self.path = path
        self.session = ort_session(path, threads, spinning)
        self.input_name = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.primary = self.card.primary.name
        self._tree: ClassTree | None = None
        self._digest: str | None = None
        self.classes: list[str] = self.card.classes
        self._check_outputs()

    def _check_outputs(self) -> None:
        """Refuse an export whose outputs do not match the card (one line)."""
        path = self.path
        if self.primary not in self.outputs:
            raise InputError(f"the ONNX export has no output {self.primary!r} (outputs: "
                             f"{', '.join(self.outputs)})", path=path, field="primary")
        width = self.session.get_outputs()[self.outputs.index(self.primary)].shape[-1]
        if isinstance(width, int) and width != len(self.classes):
            raise InputError(f"model.json lists {len(self.classes)} classes but the ONNX "
                             f"output has {width}", path=self.folder / "model.json",
                             field=f"heads.{self.primary}.classes")

    def _check_card(self) -> None:
        """Refuse a card this kind of model cannot run (one line)."""

    @property
    def temperature(self) -> float:
        return float(self.card.temperature or 1.0)

    @property
    def name(self) -> str:
        return f"{self.card.name} {self.card.version}"

    def tree(self) -> ClassTree:
        """The classes placed at every rank of their lineage (built once)."""
        if self._tree is None:
            self._tree = class_tree(self.classes, self.card.lineage)
        return self._tree

    def _session_run(self, x: np.ndarray, names: list[str] | None) -> dict[str, np.ndarray]:
        """``logits`` (the primary head) plus every other output, or those in ``names``."""
        wanted = [self.primary if n == "logits" else n for n in (names or self.outputs)]
        missing = [n for n in wanted if n not in self.outputs]
        if missing:
            raise InputError(f"the ONNX export has no output {missing[0]!r} (re-export the "
                             "model with this fieldguide to get embeddings)", path=self.path)
        got = self.session.run(wanted, {self.input_name: x})
        out = {n: np.asarray(v, dtype=np.float32) for n, v in zip(wanted, got, strict=True)}
        if self.primary in out:
            out["logits"] = out[self.primary]
        return out

    def identity(self) -> str:
        """What outputs depend on: the ONNX file's content (resume and indexes refuse
        results of another model)."""
        if self._digest is None:
            self._digest = file_sha256(self.path)
        return self._digest


class Classifier(OnnxModel):
    """Every output of an artefact's ONNX export (the heads, ``embedding``, ``imagenet``) on
    batches of uint8 crops; ``logits`` are the primary head's. A heads-only card (a model
    trained on embeddings) is refused: its graph takes vectors, not pixels."""

    def __init__(self, folder: str | Path, threads: int = 2, onnx: Path | None = None,
                 spinning: bool = True, card: ModelCard | None = None) -> None:
        super().__init__(folder, threads, onnx, spinning, card)
        self.crop = Crop.from_card(self.card.preprocessing)
        self.mean, self.std = self.card.preprocessing.mean, self.card.preprocessing.std

    def _check_card(self) -> None:
        if self.card.heads_only:
            raise InputError(TAKES_EMBEDDINGS, path=self.folder, field="embeddings_from")

    def run(self, crops: np.ndarray, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """(n, size, size, 3) uint8 -> {output name: (n, ...) float32}: ``logits`` (the
        primary head) plus every other exported output, or only those in ``names``."""
        return self._session_run(normalise(crops, self.mean, self.std), names)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """(n, size, size, 3) uint8 -> (n, K) float32 logits of the primary head."""
        return self.run(crops, [self.primary])["logits"]

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """(n, size, size, 3) uint8 -> (n, D) pooled backbone features."""
        return self.run(crops, ["embedding"])["embedding"]

    def identity(self) -> str:
        """What outputs depend on: the ONNX file's content and the crop (resume and indexes
        refuse results of another model)."""
        return f"{super().identity()}|{self.crop}"

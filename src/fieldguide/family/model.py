"""A family folder as identification sees it: one more kind of model behind
:func:`~fieldguide.identification.model.open_model`, with the narrow interface the
:class:`~fieldguide.identification.identifier.Identifier` uses (``classes``, ``temperature``,
``tree()``, ``card``, ``crop``, ``outputs``, ``run()``, ``identity()``).

A batch of crops goes once through the shared encoder; the main member's calibrated
P(group) and each group member's calibrated P(taxon | group, source) are joined by
:func:`family_log_probs` into log P(taxon) over every class, which the decision core then
rolls up over the whole tree through the same posterior as any model (the family's
``logits`` are these log-probabilities, so its temperature is 1). ``source`` picks each
group's customisation; the shared members answer otherwise. :meth:`FamilyModel.reload`
replaces the loaded members in one assignment, so a request in flight finishes on the old
members and the next one uses the new ones.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import log_softmax

from fieldguide.errors import InputError
from fieldguide.family.card import FILE, FamilyCard, Member, read_family_card
from fieldguide.identification.classifier import Classifier
from fieldguide.identification.decision import ClassTree, class_tree
from fieldguide.inputs.files import file_sha256
from fieldguide.models.card import HeadSpec, ModelCard, read_card
from fieldguide.models.pixels import Crop, normalise


def family_log_probs(group_logits: np.ndarray, group_temperature: float,
                     parts: Sequence[tuple[np.ndarray, np.ndarray, float]],
                     n_classes: int) -> np.ndarray:
    """log P(taxon) = log P(group) + log P(taxon | group), (n, n_classes).

    ``group_logits`` (n, G) are the main member's; ``parts[g]`` is group g's (class indices,
    (n, K_g) logits, temperature). Pure: every family answer is this function of arrays."""
    log_group = log_softmax(group_logits.astype(np.float64) / group_temperature, axis=1)
    out = np.full((len(group_logits), n_classes), -np.inf)
    for g, (index, logits, temperature) in enumerate(parts):
        out[:, index] = log_group[:, g:g + 1] + log_softmax(
            logits.astype(np.float64) / temperature, axis=1)
    return out


class _Head:
    """One member: its card (temperature, classes) and its linear head's weights, read from
    the member's heads-only ONNX graph (a source's members are joined into one graph, one
    ONNX call per batch rather than one per member)."""

    def __init__(self, folder: Path, member: Member) -> None:
        import onnx
        from onnx import numpy_helper

        self.member = member
        self.card = read_card(folder / member.folder)
        self.temperature = float(self.card.temperature or 1.0)
        path = folder / member.folder / "model.onnx"
        name = self.card.primary.name
        try:
            weights = {t.name: numpy_helper.to_array(t)
                       for t in onnx.load(str(path)).graph.initializer}
        except Exception as exc:  # onnx raises its own types for a bad file
            raise InputError(f"not a usable ONNX model: {str(exc).splitlines()[0][:200]}",
                             path=path) from None
        if f"{name}_w" not in weights or f"{name}_b" not in weights:
            raise InputError(f"not a linear head {name!r} on embeddings (a member is a "
                             "heads-only model)", path=path)
        self.weight = np.asarray(weights[f"{name}_w"], dtype=np.float32)  # (d, K)
        self.bias = np.asarray(weights[f"{name}_b"], dtype=np.float32)
        if self.weight.shape[1] != len(member.classes):
            raise InputError(f"the head has {self.weight.shape[1]} outputs, the family card "
                             f"lists {len(member.classes)} classes", path=path)


def stacked_log_probs(group_logits: np.ndarray, group_temperature: float, z: np.ndarray,
                      sizes: np.ndarray, temperatures: np.ndarray,
                      order: np.ndarray) -> np.ndarray:
    """:func:`family_log_probs` of every group's logits side by side in ``z`` (n, sum K):
    group g holds ``sizes[g]`` columns at temperature ``temperatures[g]``; ``order[k]`` is
    class k's column. A fixed number of array operations whatever the number of groups (the
    service's one-photo path)."""
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    scaled = z.astype(np.float64) / np.repeat(temperatures, sizes)
    top = np.maximum.reduceat(scaled, starts, axis=1)
    shifted = scaled - np.repeat(top, sizes, axis=1)
    log_norm = np.log(np.add.reduceat(np.exp(shifted), starts, axis=1))
    log_group = log_softmax(group_logits.astype(np.float64) / group_temperature, axis=1)
    out: np.ndarray = (shifted + np.repeat(log_group - log_norm, sizes, axis=1))[:, order]
    return out


@dataclass(frozen=True)
class _Stack:
    """A source's members as one ONNX graph: ``embedding`` -> the main member's ``groups``
    logits and every group member's logits side by side (``taxa``), one call per batch."""

    session: Any
    sizes: np.ndarray
    temperatures: np.ndarray
    order: np.ndarray  # class index -> column

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        groups, taxa = self.session.run(["groups", "taxa"], {"embedding": x})
        return np.asarray(groups), np.asarray(taxa)


def _stack_graph(main: _Head, heads: Sequence[_Head]) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    d = main.weight.shape[0]
    consts = {"main_w": main.weight, "main_b": main.bias,
              "taxa_w": np.concatenate([h.weight for h in heads], axis=1),
              "taxa_b": np.concatenate([h.bias for h in heads])}
    nodes = [helper.make_node("MatMul", ["embedding", "main_w"], ["main_mm"]),
             helper.make_node("Add", ["main_mm", "main_b"], ["groups"]),
             helper.make_node("MatMul", ["embedding", "taxa_w"], ["taxa_mm"]),
             helper.make_node("Add", ["taxa_mm", "taxa_b"], ["taxa"])]
    graph = helper.make_graph(
        nodes, "fieldguide-family-stack",
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", d])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", consts[f"{n}_b"].shape[0]
                                                              if n == "taxa" else
                                                              main.bias.shape[0]])
         for n in ("groups", "taxa")],
        [numpy_helper.from_array(np.ascontiguousarray(v, np.float32), k)
         for k, v in consts.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    data: bytes = model.SerializeToString()
    return data


@dataclass(frozen=True)
class _Loaded:
    """Everything one answer needs, loaded together and replaced together."""

    card: FamilyCard
    heads: dict[str, _Head]  # by member name
    digest: str
    stamp: tuple[int, int]  # family.json's (mtime_ns, size) when read
    stacks: dict[str | None, _Stack]  # by source, built on first use


class FamilyModel(Classifier):
    """A family folder opened for identification (see the module); a
    :class:`~fieldguide.identification.classifier.Classifier` to every front end, whose
    ``session`` is the shared encoder's."""

    def __init__(self, folder: str | Path, threads: int = 2, spinning: bool = True,
                 source: str | None = None) -> None:
        import onnxruntime as ort

        self.folder = Path(folder)
        self._threads, self._spinning = threads, spinning
        self._lock = threading.Lock()
        self._loaded = self._load()
        card = self._loaded.card
        self.source = self._check_source(card, source)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        if not spinning:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = self.folder / str(card.encoder["onnx"])
        self.encoder = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.session = self.encoder
        self.path = path
        self.input_name = self.encoder.get_inputs()[0].name
        produced = [o.name for o in self.encoder.get_outputs()]
        self.embedding_name = "embedding" if "embedding" in produced else "features"
        self.classes: list[str] = list(card.classes)
        self.card = ModelCard(backbone=str(card.encoder.get("backbone", "")),
                              heads=[HeadSpec("taxon", "species", "taxon", card.classes)],
                              preprocessing=card.preprocessing, lineage=card.lineage,
                              name=card.name, version=card.version, metrics=card.metrics,
                              onnx=str(card.encoder["onnx"]), outputs=["taxon", "embedding"])
        self.crop = Crop.from_card(card.preprocessing)
        self.mean, self.std = card.preprocessing.mean, card.preprocessing.std
        self.outputs = ["embedding", "logits"]
        self.primary = "logits"
        self._tree: ClassTree | None = None
        self._digest: str | None = None
        self._index = {c: i for i, c in enumerate(self.classes)}

    @staticmethod
    def _check_source(card: FamilyCard, source: str | None) -> str | None:
        if source is not None and source not in card.sources:
            raise InputError(f"unknown source {source!r} (the family's sources: "
                             f"{', '.join(card.sources) or 'none'})", field="--source")
        return source

    def _stamp(self) -> tuple[int, int]:
        st = (self.folder / FILE).stat()
        return st.st_mtime_ns, st.st_size

    def _load(self) -> _Loaded:
        stamp = self._stamp()
        card = read_family_card(self.folder)
        heads = {m.name: _Head(self.folder, m) for m in card.members}
        if len({h.weight.shape[0] for h in heads.values()}) != 1:
            raise InputError("the members take embeddings of different widths",
                             path=self.folder / FILE, field="members")
        return _Loaded(card, heads, file_sha256(self.folder / FILE), stamp, {})

    def reload(self) -> FamilyCard:
        """Read ``family.json`` and the members again and swap them in at once (a member
        replaced on disk while serving; see :func:`fieldguide.family.replace_member`)."""
        parent = self.__dict__.get("_parent")
        if parent is not None:
            return parent.reload()  # type: ignore[no-any-return]
        with self._lock:
            loaded = self._load()
            self._loaded = loaded
        return loaded.card

    def refresh(self) -> bool:
        """Reload when ``family.json`` changed on disk since it was read (a stat per call);
        whether it did. A card that cannot be read keeps the members loaded now."""
        parent = self.__dict__.get("_parent")
        if parent is not None:
            return parent.refresh()  # type: ignore[no-any-return]
        try:
            if self._stamp() == self._loaded.stamp:
                return False
            with self._lock:
                if self._stamp() == self._loaded.stamp:
                    return False
                self._loaded = self._load()
        except (OSError, InputError):
            return False
        return True

    def with_source(self, source: str | None) -> FamilyModel:
        """The same loaded family answering for ``source`` (shares the sessions)."""
        view = object.__new__(FamilyModel)
        view.__dict__.update(self.__dict__)
        view.source = self._check_source(self._loaded.card, source)
        view.__dict__["_parent"] = self
        return view

    @property
    def family(self) -> FamilyCard:
        return self._current().card

    def _current(self) -> _Loaded:
        parent = self.__dict__.get("_parent")
        return parent._current() if parent is not None else self._loaded

    @property
    def temperature(self) -> float:
        return 1.0

    @property
    def name(self) -> str:
        return f"{self.card.name} {self.card.version}"

    def tree(self) -> ClassTree:
        if self._tree is None:
            self._tree = class_tree(self.classes, self.card.lineage)
        return self._tree

    def members_used(self, loaded: _Loaded | None = None) -> tuple[Member, list[Member]]:
        """The main member and each group's member that answer for this source."""
        card = (loaded or self._current()).card
        main = card.pick("main", None, self.source)
        return main, [card.pick("group", g, self.source) for g in card.groups]

    def members_of(self, classes: Sequence[int]) -> list[str]:
        """For each answer's class index, the members that made it (``name:version``)."""
        main, groups = self.members_used()
        card = self._current().card
        group_names = list(card.groups)
        of_class = {c: group_names.index(g) for g, cs in card.groups.items() for c in cs}
        out = []
        for k in classes:
            if k < 0:
                out.append("")
                continue
            g = groups[of_class[self.classes[k]]]
            out.append(f"{main.name}:{main.version};{g.name}:{g.version}")
        return out

    def run(self, crops: np.ndarray, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """(n, size, size, 3) uint8 -> ``logits`` (log P(taxon)) and ``embedding``."""
        wanted = names or self.outputs
        missing = [n for n in wanted if n not in self.outputs]
        if missing:
            raise InputError(f"a family has no output {missing[0]!r} (outputs: logits, "
                             "embedding)", path=self.folder)
        x = normalise(crops, self.mean, self.std)
        emb = np.asarray(self.encoder.run([self.embedding_name], {self.input_name: x})[0],
                         dtype=np.float32)
        out = {"embedding": emb}
        if "logits" in wanted:
            out["logits"] = self.log_probs(emb).astype(np.float32)
        return {n: out[n] for n in wanted}

    def log_probs(self, embedding: np.ndarray) -> np.ndarray:
        """log P(taxon) of embedding vectors (n, d), by this source's members."""
        loaded = self._current()
        main, _ = self.members_used(loaded)
        stack = self._stack(loaded)
        groups, taxa = stack.run(np.ascontiguousarray(embedding, dtype=np.float32))
        return stacked_log_probs(groups, loaded.heads[main.name].temperature, taxa,
                                 stack.sizes, stack.temperatures, stack.order)

    def _stack(self, loaded: _Loaded) -> _Stack:
        stack = loaded.stacks.get(self.source)
        if stack is None:
            import onnxruntime as ort

            main, groups = self.members_used(loaded)
            heads = [loaded.heads[m.name] for m in groups]
            columns = np.array([self._index[c] for m in groups for c in m.classes])
            order = np.empty(len(self.classes), dtype=np.int64)
            order[columns] = np.arange(len(columns))
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = max(1, self._threads)
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            if not self._spinning:
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(_stack_graph(loaded.heads[main.name], heads), opts,
                                           providers=["CPUExecutionProvider"])
            stack = _Stack(session, np.array([len(m.classes) for m in groups]),
                           np.array([h.temperature for h in heads]), order)
            loaded.stacks[self.source] = stack
        return stack

    def identity(self) -> str:
        """The encoder, the members' card and the source: what answers depend on."""
        if self._digest is None:
            self._digest = file_sha256(self.path)
        return f"{self._digest}|{self._current().digest}|{self.source}|{self.crop}"

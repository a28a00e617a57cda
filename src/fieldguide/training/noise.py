"""Label noise: which photos of a dataset most likely carry the wrong label.

Why out-of-fold probabilities: a probe fitted on a photo has seen its label and will agree
with it, right or wrong; a probe fitted on the other folds judges the photo as it would judge a
new one. So the training photos are split into K folds stratified by label, a linear probe (the
same L2 logistic regression as every probe, :mod:`fieldguide.training.probe`) is fitted on the
cached embeddings of K - 1 folds and scores the held-out one; photos outside train are scored by
a probe fitted on all the training photos.

Why ``noise_score = 1 - p(given label)``: it is the "self-confidence" ranking of confident
learning (Northcutt, Jiang and Chuang 2021, "Confident learning", JAIR 70), which in their
benchmarks ranks label errors about as well as the normalised margin, is bounded in [0, 1] and
reads the same for every class, so a curation rule can cut it at one threshold. The
``suggested`` label is the probe's most probable other class. ``label_issue`` is confident
learning's own test: some other class j has p_j at least the class's threshold t_j, the mean
out-of-fold p_j of the training photos labelled j (so a class the probe is never sure of needs
less evidence). The decision functions take arrays only; :func:`rank_label_noise` loads the
manifest and the embeddings around them.

``noise.csv`` has one writer (:func:`write_noise`) and one reader (:func:`read_noise`), which
the dataset report and the ``label_noise`` curation rule use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fieldguide.errors import InputError

#: The noise table's columns, in file order.
COLUMNS = ("rank", "photo_id", "path", "split", "label", "suggested", "p_label", "p_suggested",
           "noise_score", "label_issue")


@dataclass(frozen=True)
class NoiseScores:
    """Per photo: ``score`` = 1 - p(label), the most probable other class, and its
    probability, and confident learning's ``issue`` flag."""

    score: np.ndarray
    p_label: np.ndarray
    suggested: np.ndarray  # class index
    p_suggested: np.ndarray
    issue: np.ndarray


def stratified_folds(y: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Fold number per row: each label's rows shuffled (seeded) and dealt out in turn, so every
    fold holds each class in proportion."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        fold[rows] = (np.arange(len(rows)) + int(label)) % folds
    return fold


def _probe_probabilities(x_fit: np.ndarray, y_fit: np.ndarray, x_score: np.ndarray,
                         n_classes: int, l2: float, max_iter: int) -> np.ndarray:
    from scipy.special import softmax

    from fieldguide.models.card import HeadSpec
    from fieldguide.training.probe import fit_linear_heads, head_logits

    head = HeadSpec("taxon", "species", "taxon", tuple(str(i) for i in range(n_classes)))
    fit = fit_linear_heads(x_fit, y_fit[:, None], [head], {}, l2=l2, max_iter=max_iter,
                           optimiser="lbfgs")
    out: np.ndarray = softmax(head_logits(fit, x_score, "taxon").astype(np.float64), axis=1)
    return out


def out_of_fold_probabilities(feats: np.ndarray, y: np.ndarray, n_classes: int, *,
                              folds: int = 5, seed: int = 0, l2: float = 1e-3,
                              max_iter: int = 300) -> np.ndarray:
    """(n, n_classes) probabilities of each row from a probe that never saw that row."""
    if folds < 2:
        raise ValueError(f"folds must be at least 2, not {folds}")
    fold = stratified_folds(y, folds, seed)
    probs = np.zeros((len(y), n_classes))
    for f in range(folds):
        held = fold == f
        if held.any():
            probs[held] = _probe_probabilities(feats[~held], y[~held], feats[held], n_classes,
                                               l2, max_iter)
    return probs


def noise_scores(probs: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> NoiseScores:
    """Score rows of ``probs`` against their given labels ``y``; ``thresholds`` are the
    per-class confident-learning thresholds (:func:`class_thresholds`)."""
    n = len(y)
    p_label = probs[np.arange(n), y]
    others = probs.copy()
    others[np.arange(n), y] = -1.0
    suggested = others.argmax(axis=1)
    p_suggested = others[np.arange(n), suggested]
    issue = np.asarray((others >= thresholds[None, :]).any(axis=1), dtype=bool)
    return NoiseScores(1.0 - p_label, p_label, suggested, p_suggested, issue)


def class_thresholds(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """t_j: the mean probability of class j over the rows labelled j (1 for a class with no
    row, so it never flags)."""
    k = probs.shape[1]
    sums = np.bincount(y, weights=probs[np.arange(len(y)), y], minlength=k)
    counts = np.bincount(y, minlength=k)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 1.0)


@dataclass(frozen=True)
class NoiseTable:
    """The ranked photos (highest ``noise_score`` first), as ``noise.csv`` holds them."""

    photo_id: list[str]
    path: list[str]
    split: list[str]
    label: list[str]
    suggested: list[str]
    p_label: np.ndarray
    p_suggested: np.ndarray
    noise_score: np.ndarray
    label_issue: np.ndarray
    skipped: int = 0  # photos whose file could not be read (not scored)

    def __len__(self) -> int:
        return len(self.photo_id)


def rank_label_noise(manifest: Path, *, backbone: str = "lite0", label: str = "taxon",
                     cache: Path | None = None, folds: int = 5, seed: int = 0,
                     l2: float = 1e-3, threads: int = 2) -> NoiseTable:
    """Embed a manifest's photos with ``backbone`` (through the embedding stores under
    ``cache``, default the manifest's folder's ``.embeddings``) and rank them by label noise."""
    from fieldguide.models.registry import backbone_info, canonical
    from fieldguide.training.encoder_probe import embed_with_encoders
    from fieldguide.training.manifest import read_manifest

    name = canonical(backbone)
    prep = backbone_info(name).preprocessing
    data = read_manifest(Path(manifest), label)
    y_all = data.targets[:, 0]
    min_class = int(data.counts(0)[data.counts(0) > 0].min())
    if min_class < folds:
        raise InputError(f"a class has only {min_class} training photo(s), fewer than the "
                         f"{folds} folds; use --folds {max(min_class, 2)} or drop the class",
                         path=manifest, field=label)
    store = cache if cache is not None else Path(manifest).parent / ".embeddings"
    _, parts, ok = embed_with_encoders([name], prep, data.paths, store, threads)
    feats = parts[0]
    classes = data.heads[0].classes
    train = np.flatnonzero((data.splits == "train") & ok & (y_all >= 0))
    rest = np.flatnonzero((data.splits != "train") & ok & (y_all >= 0))
    probs = np.zeros((len(y_all), len(classes)))
    probs[train] = out_of_fold_probabilities(feats[train], y_all[train], len(classes),
                                             folds=folds, seed=seed, l2=l2)
    if len(rest):
        probs[rest] = _probe_probabilities(feats[train], y_all[train], feats[rest],
                                           len(classes), l2, 300)
    rows = np.concatenate([train, rest])
    scores = noise_scores(probs[rows], y_all[rows], class_thresholds(probs[train], y_all[train]))
    order = np.lexsort((rows, -scores.score))
    picked = rows[order]
    return NoiseTable(
        [data.photo_ids[i] for i in picked], [str(data.paths[i]) for i in picked],
        [str(data.splits[i]) for i in picked], [classes[y_all[i]] for i in picked],
        [classes[s] for s in scores.suggested[order]], scores.p_label[order],
        scores.p_suggested[order], scores.score[order], scores.issue[order],
        skipped=int((~ok).sum()))


def write_noise(table: NoiseTable, path: Path) -> Path:
    """Write ``noise.csv`` (ranked, one row per scored photo) atomically."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from fieldguide.inputs.files import atomic_path

    out = pa.table({
        "rank": np.arange(1, len(table) + 1), "photo_id": table.photo_id, "path": table.path,
        "split": table.split, "label": table.label, "suggested": table.suggested,
        "p_label": np.round(table.p_label, 6), "p_suggested": np.round(table.p_suggested, 6),
        "noise_score": np.round(table.noise_score, 6), "label_issue": table.label_issue})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pacsv.write_csv(out, tmp)
    return path


def read_noise(path: str | Path) -> NoiseTable:
    """Read a ``noise.csv`` back, checked: a missing column or a score outside [0, 1] is one
    :class:`InputError` naming the file, line and field."""
    from fieldguide.inputs.tables import read_columns

    cols = read_columns(path, what="noise table")
    for name in COLUMNS:
        if name not in cols:
            raise InputError(f"missing column {name!r} (write it with `fieldguide dataset "
                             "noise`)", path=path, field=name)
    for name in ("photo_id", "label"):
        for i, v in enumerate(cols[name]):
            if v is None or str(v).strip() == "":
                raise InputError("empty value", path=path, line=i + 2, field=name)
    numbers = {}
    for name in ("p_label", "p_suggested", "noise_score"):
        values = cols[name]
        for i, v in enumerate(values):
            if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= 1:
                raise InputError(f"{v!r} is not a probability in [0, 1]", path=path,
                                 line=i + 2, field=name)
        numbers[name] = np.asarray(values, dtype=np.float64)
    issue = []
    for i, v in enumerate(cols["label_issue"]):
        if not isinstance(v, bool):
            raise InputError(f"{v!r} is not true or false", path=path, line=i + 2,
                             field="label_issue")
        issue.append(v)

    def text(name: str) -> list[str]:
        return ["" if v is None else str(v) for v in cols[name]]

    return NoiseTable(text("photo_id"), text("path"), text("split"), text("label"),
                      text("suggested"), numbers["p_label"], numbers["p_suggested"],
                      numbers["noise_score"], np.asarray(issue, dtype=bool))

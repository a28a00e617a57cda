"""PNG plots for the reports. matplotlib is imported inside each function, with the Agg
backend, so importing the package (and the CLI) stays fast and headless-safe."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Above this many labels a confusion matrix drops its per-cell numbers.
ANNOTATE_MAX = 30


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def confusion_png(cm: np.ndarray, labels: Sequence[str], path: Path, title: str) -> Path:
    """Rows are true classes, colour the row share (so rare classes show as clearly as
    common ones), numbers the counts when there are at most :data:`ANNOTATE_MAX` labels."""
    plt = _pyplot()
    k = len(labels)
    size = min(4 + 0.45 * k, 22)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    ax.set_xticks(range(k), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= ANNOTATE_MAX:
        for i, j in zip(*np.nonzero(cm), strict=True):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if share[i, j] > 0.5 else "black")
    return _save(fig, path)


def reliability_png(rows: Sequence[dict[str, Any]], ece: float, path: Path, title: str) -> Path:
    """Reliability diagram: accuracy per confidence bin against the diagonal, bin counts
    below, so over-confidence shows as bars under the line."""
    plt = _pyplot()
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5.5, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    lows = [r["low"] for r in rows]
    width = rows[0]["high"] - rows[0]["low"]
    acc = [r["accuracy"] if r["accuracy"] is not None else 0.0 for r in rows]
    conf = [r["confidence"] if r["confidence"] is not None else 0.0 for r in rows]
    ax.bar(lows, acc, width=width, align="edge", edgecolor="k", label="accuracy")
    ax.bar(lows, np.subtract(conf, acc), bottom=acc, width=width, align="edge",
           color="tab:red", alpha=0.3, label="gap to confidence")
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} (ECE {ece:.3f})")
    ax.legend(loc="upper left")
    ax_n.bar(lows, [r["count"] for r in rows], width=width, align="edge", color="grey")
    ax_n.set_xlabel("top-1 confidence")
    ax_n.set_ylabel("images")
    ax_n.set_xlim(0, 1)
    return _save(fig, path)


def train_bins_png(rows: Sequence[dict[str, Any]], path: Path, title: str) -> Path:
    """iNat2017 figure 5: box plot of per-class top-1 accuracy per training-count bin, with
    the number of classes written above each box."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    data = [r["class_accuracies"] or [np.nan] for r in rows]
    ax.boxplot(data)
    ax.set_xticks(range(1, len(rows) + 1), [r["bin"] for r in rows])
    for i, r in enumerate(rows, start=1):
        ax.text(i, 1.04, str(r["n_classes"]), ha="center", fontsize=8)
    ax.set_ylim(-0.02, 1.1)
    ax.set_xlabel("training images per class")
    ax.set_ylabel("top-1 accuracy per class")
    ax.set_title(title)
    return _save(fig, path)


def taxa_curve_png(curves: Sequence[tuple[str, dict[str, list[Any]]]], path: Path,
                   title: str) -> Path:
    """Naturalis figure 4: accuracy and average recall against the number of most common
    taxa included, training images per taxon on a second (log) axis, and the taxa that hold
    95% of the training images shaded grey. Several curves share one plot (figure 5)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    first = curves[0][1]
    n = np.arange(1, len(first["train_count"]) + 1)
    covered = int(np.searchsorted(np.asarray(first["share_train"]), 0.95) + 1)
    ax.axvspan(1, min(covered, len(n)), color="grey", alpha=0.15, label="95% of train images")
    for (name, curve), style in zip(curves, ["-", "--", ":", "-."], strict=False):
        acc = np.array([np.nan if v is None else v for v in curve["accuracy"]])
        rec = np.array([np.nan if v is None else v for v in curve["average_recall"]])
        ax.plot(n, acc, "tab:blue", ls=style, label=f"accuracy {name}".strip())
        ax.plot(n, rec, "tab:orange", ls=style, label=f"average recall {name}".strip())
    ax.set_xlabel("number of most common taxa included")
    ax.set_ylabel("accuracy / average recall")
    ax.set_ylim(0, 1.02)
    ax2 = ax.twinx()
    ax2.plot(n, np.maximum(first["train_count"], 1), "k", lw=0.8, alpha=0.6)
    ax2.set_yscale("log")
    ax2.set_ylabel("training images of the taxon")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def paired_scatter_png(a: Sequence[float | None], b: Sequence[float | None],
                       names: tuple[str, str], path: Path, title: str) -> Path:
    """One point per class: recall under model A against model B; points above the
    diagonal are classes B recognises better."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    xs = np.array([np.nan if v is None else v for v in a])
    ys = np.array([np.nan if v is None else v for v in b])
    ax.scatter(xs, ys, s=14, alpha=0.6)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_xlabel(f"recall {names[0]}")
    ax.set_ylabel(f"recall {names[1]}")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    return _save(fig, path)


def annotator_png(classes: Sequence[str], accuracy: dict[str, list[float | None]],
                  model: str, path: Path, title: str) -> Path:
    """Accuracy against the expert per column (overall, then each class): humans as grey
    dots with their mean as a black bar, the model as a red diamond."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.5 + 1.1 * len(classes)), 4))
    x = np.arange(len(classes))
    for name, values in accuracy.items():
        ys = [np.nan if v is None else v for v in values]
        if name == model:
            ax.plot(x, ys, "rD", ms=8, label=model, zorder=3)
        else:
            ax.plot(x, ys, "o", color="grey", alpha=0.6)
    humans = np.array([[np.nan if v is None else v for v in values]
                       for name, values in accuracy.items() if name != model])
    ax.plot(x, np.nanmean(humans, axis=0), "k_", ms=24, mew=2, label="human mean")
    ax.plot([], [], "o", color="grey", label="human annotators")
    ax.set_xticks(x, classes, rotation=30, ha="right")
    ax.set_xlim(-0.6, len(classes) - 0.4)
    ax.set_ylim(-0.02, 1.05)
    ax.set_ylabel("accuracy against the expert")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title)
    return _save(fig, path)

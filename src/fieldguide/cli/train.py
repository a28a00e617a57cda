"""``fieldguide train | evaluate | compare``: thin commands over ``fieldguide.training`` and
``fieldguide.evaluation``; torch loads inside the commands so ``--help`` stays instant."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fieldguide.cli.common import fail, guarded

if TYPE_CHECKING:
    import numpy as np

    from fieldguide.training.predict import SplitPredictions

OutOption = Annotated[Path, typer.Option("-o", "--output", help="Folder to write into.")]
SplitOption = Annotated[str, typer.Option(help="Manifest split to score.")]
HeadOption = Annotated[str | None, typer.Option(help="Head to score (default: the species "
                                                     "head, else the first).")]
RootOption = Annotated[Path | None, typer.Option(help="Folder that relative photo paths are "
                                                      "read from (default: the manifest's).")]
SuperOption = Annotated[str | None, typer.Option(
    "--superclass-rank", help="Group classes by this rank of the model's taxonomy.")]


def train(
    spec: Path,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint.")]
    = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Run folder (default: "
                                                "the spec's `out`, else runs/<name>).")] = None,
) -> None:
    """Train from a TOML spec: linear probe, partial or full fine-tuning; writes checkpoints,
    metrics.csv/json and the model artefact (model.safetensors + model.json + model.onnx; a
    probe on dinov2-s14 or a concatenation of backbones: model.json + model.onnx). A family
    spec (kind = "family") writes a family folder (family.json, encoder.onnx, members/)."""
    from fieldguide.family.spec import is_family_spec

    if is_family_spec(spec):
        _train_family(spec, output)
        return
    from fieldguide.training import load_spec
    from fieldguide.training import train as run

    parsed = guarded(lambda: load_spec(spec))
    result = guarded(lambda: run(parsed, output, resume=resume))
    if result.stopped_early:
        typer.echo(f"stopped after epoch {result.history[-1]['epoch']}; resume with --resume")
        return
    shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                      for k, v in result.metrics.items())
    typer.echo(f"{shown}\nmodel at {result.model_dir}")


def _train_family(spec: Path, output: Path | None) -> None:
    from fieldguide.family import load_family_spec, train_family

    parsed = guarded(lambda: load_family_spec(spec))
    folder, card = guarded(lambda: train_family(parsed, output))
    for key, value in card.metrics.items():
        if isinstance(value, dict):
            shown = ", ".join(f"{who} " + " ".join(f"{k} {v:.4f}" for k, v in got.items())
                              for who, got in value.items())
            typer.echo(f"{key}: {shown}")
    typer.echo(f"{len(card.members)} members; family at {folder}")


def _predictions(model: Path, dataset: Path, split: str, head: str | None,
                 root: Path | None, source: str | None = None) -> SplitPredictions:
    from fieldguide.training.predict import predict_split

    pred: SplitPredictions = guarded(lambda: predict_split(model, dataset, split, head, root,
                                                           source=source))
    if pred.skipped:
        typer.echo(f"{pred.skipped} photo(s) could not be read and were skipped", err=True)
    return pred


def _group_table(pred: SplitPredictions) -> list[dict[str, Any]] | None:
    """Precision and coverage per taxon group at the card's thresholds (calibrate
    --groups-at), on the probabilities at the card's temperature; None without them."""
    from dataclasses import asdict

    import numpy as np

    from fieldguide.identification.groups import KEY, GroupThresholds, group_figures
    from fieldguide.identification.posterior import softmax

    if KEY not in pred.card.extras:
        return None
    fitted = GroupThresholds.from_dict(pred.card.extras[KEY])
    with np.errstate(divide="ignore"):
        logits = np.log(np.asarray(pred.probs, dtype=np.float64))
    probs = softmax(logits, pred.card.temperature or 1.0)
    return [asdict(f) for f in group_figures(probs, pred.y_true, pred.class_names, fitted)]


def _label(model: Path) -> str:
    """A run's name for titles: ``runs/oxford12-probe/model`` -> ``oxford12-probe``."""
    model = model.resolve()
    return model.parent.name if model.name == "model" else model.name


def _write_predictions(pred: SplitPredictions, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["photo_id", "true", "predicted", "probability"])
        for pid, y, p in zip(pred.photo_ids, pred.y_true, pred.probs, strict=True):
            out.writerow([pid, pred.class_names[y], pred.class_names[int(p.argmax())],
                          f"{float(p.max()):.6f}"])


def evaluate(
    model: Path, dataset: Path, output: OutOption, split: SplitOption = "test",
    head: HeadOption = None, root: RootOption = None, superclass_rank: SuperOption = None,
) -> None:
    """Run MODEL on DATASET's test split (a manifest; for a model trained on embeddings, an
    embeddings Parquet or labelled store) and write the evaluation report."""
    from fieldguide.evaluation import evaluate as score
    from fieldguide.evaluation import write_report

    pred = _predictions(model, dataset, split, head, root)
    superclass = None
    if superclass_rank:
        superclass = [pred.card.lineage.get(c, {}).get(superclass_rank, "(none)")
                      for c in pred.class_names]
    groups = guarded(lambda: _group_table(pred))
    result = guarded(lambda: score(pred.probs, pred.y_true, pred.class_names,
                                   train_counts=pred.train_counts, superclass=superclass,
                                   group_thresholds=groups))
    title = f"{_label(model)} on {dataset.name} ({split})"
    written: dict[str, Path] = guarded(lambda: write_report(result, output, title=title))
    _write_predictions(pred, output / "predictions.csv")
    top1 = float((pred.probs.argmax(1) == pred.y_true).mean())
    typer.echo(f"top-1 {top1:.4f} on {len(pred.y_true)} photos; report: "
               + ", ".join(str(p) for p in written.values()))


def compare(
    model_a: Path, model_b: Path, dataset: Path, output: OutOption,
    split: SplitOption = "test", head: HeadOption = None, root: RootOption = None,
    source: Annotated[str | None, typer.Option(
        help="A family's customisation to compare (as identify's --source), on this "
             "source's photos only.")] = None,
    sources: Annotated[Path | None, typer.Option(
        help="path,source CSV naming each photo's source (default: DATASET's `source` "
             "column).")] = None,
) -> None:
    """Two models on the same photos of DATASET: accuracies, disagreements, paired test.
    Either may be a family folder (seed 004's comparison: a family customised for --source
    against a model trained on that source alone, on the source's test photos; the accuracy
    and average recall against the number of most common taxa included, per group)."""
    import numpy as np

    from fieldguide.evaluation import compare_models, write_comparison
    from fieldguide.family.card import is_family

    families = [m for m in (model_a, model_b) if is_family(m)]
    if source is not None and not families:
        raise fail("--source picks a family's customisation: neither model is a family")
    a = _predictions(model_a, dataset, split, head, root, source if is_family(model_a) else None)
    b = _predictions(model_b, dataset, split, head, root, source if is_family(model_b) else None)
    if sorted(a.class_names) != sorted(b.class_names):
        raise fail("the two models do not have the same classes")
    b = _in_order(b, a.class_names)
    if a.photo_ids != b.photo_ids:
        raise fail("the two models scored different photos")
    names = (_label(model_a), _label(model_b))
    if names[0] == names[1]:
        names = (f"{names[0]} (A)", f"{names[1]} (B)")
    superclass = None
    if families:
        from fieldguide.family import read_family_card
        from fieldguide.family.compare import group_of_class, photo_sources

        superclass = group_of_class(guarded(lambda: read_family_card(families[0])),
                                    a.class_names)
        if source is not None:
            of = guarded(lambda: photo_sources(dataset, sources))
            keep = np.array([of.get(p) == source for p in a.photo_ids], dtype=bool)
            if not keep.any():
                raise fail(f"no {split} photo of source {source!r} in {dataset}")
            a = _rows(a, keep)
            b = _rows(b, keep)
            names = (f"{names[0]} ({source})", f"{names[1]} ({source})")
    counts = a.train_counts if a.train_counts is not None else b.train_counts
    result = guarded(lambda: compare_models(a.probs, b.probs, a.y_true, a.class_names, names,
                                            train_counts=counts, superclass=superclass))
    written: dict[str, Path] = write_comparison(result, output)
    typer.echo(f"top-1 {result.a.top1:.4f} / {result.b.top1:.4f}, average recall "
               f"{result.a.average_recall:.4f} / {result.b.average_recall:.4f} on "
               f"{len(a.y_true)} photos")
    typer.echo("comparison: " + ", ".join(str(p) for p in written.values()))


def _in_order(pred: SplitPredictions, classes: list[str]) -> SplitPredictions:
    """``pred`` with its classes in the order of ``classes`` (the same set): a family lists
    its classes group by group."""
    if pred.class_names == classes:
        return pred
    from dataclasses import replace

    import numpy as np

    column = {c: i for i, c in enumerate(pred.class_names)}
    order = np.array([column[c] for c in classes])
    where = np.argsort(order)  # old index -> new index
    counts = None if pred.train_counts is None else pred.train_counts[order]
    return replace(pred, probs=pred.probs[:, order], y_true=where[pred.y_true],
                   class_names=list(classes), train_counts=counts)


def _rows(pred: SplitPredictions, keep: np.ndarray) -> SplitPredictions:
    from dataclasses import replace

    return replace(pred, probs=pred.probs[keep], y_true=pred.y_true[keep],
                   photo_ids=[p for p, k in zip(pred.photo_ids, keep, strict=True) if k])

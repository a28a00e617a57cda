"""The photo half of the main job: a folder of labelled photos -> a dataset -> a linear-probe
model -> its evaluation -> calibration -> identification of the test photos, with a report.

Every step leaves its output in ``out/`` and is skipped when that output exists, so a killed
run is resumed by running it again (training itself resumes from its checkpoint).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fieldguide.ingest import ingest_image_folder
from fieldguide.store import Study
from fieldguide.store.sql import scalar


@dataclass
class PhotoRun:
    """Where each step put its output, the backbone(s) the probe is trained on (several:
    their embeddings concatenated), and the lines of the final report."""

    out: Path
    backbones: list[str] = field(default_factory=lambda: ["lite0"])
    lines: list[str] = field(default_factory=list)

    @property
    def backbone(self) -> str:
        return "+".join(self.backbones)

    @property
    def manifest(self) -> Path:
        return self.out / "dataset" / "manifest.csv"

    @property
    def model(self) -> Path:
        return self.out / "model" / "model"

    @property
    def identified(self) -> Path:
        return self.out / "identify" / "test.csv"


def photo_steps(photos: Path, run: PhotoRun) -> list[tuple[str, Callable[[Study], str]]]:
    """The steps, in order, as (name, step) pairs; each step returns its summary."""
    return [
        ("ingest: labelled photo folder", lambda s: ingest_image_folder(s, photos).summary()),
        ("curate: dataset from the photo folder", lambda s: _dataset(s, run)),
        (f"train: linear probe on {run.backbone} (shipped weights)", lambda s: _train(run)),
        ("evaluate: the test split", lambda s: _evaluate(run)),
        ("calibrate: temperature on the validation split", lambda s: _calibrate(run)),
        ("reject: unknown and unusable photos (fitted on train/val)", lambda s: _reject(run)),
        ("identify: the test photos (ONNX Runtime)", lambda s: _identify(run)),
    ]


def _dataset(study: Study, run: PhotoRun) -> str:
    """The folder's own train/test split (a quarter of train held out to calibrate), or a
    random 60/20/20 split when the folder has none."""
    from fieldguide.curation import build_dataset, parse_spec

    if run.manifest.is_file():
        return f"already built: {run.manifest}"
    has_split = scalar(
        study.con,
        "SELECT count(*) FROM photos p JOIN observations o USING "
        "(observation_id) WHERE o.source = 'folder' AND "
        "p.source_split = 'test'",
    )
    split = (
        {"method": "source", "val": 0.25}
        if has_split
        else {"method": "random", "train": 0.6, "val": 0.2, "test": 0.2}
    )
    spec = parse_spec(
        {
            "name": "sample-photos",
            "seed": 0,
            "step": [{"rule": "sources", "keep": ["folder"]}],
            "split": split,
        }
    )
    result = build_dataset(study, spec, run.manifest.parent)
    return (
        f"{result.steps[-1].photos_out:,} photos in {run.manifest} "
        f"(report: {run.manifest.parent / 'report.md'})"
    )


def _train(run: PhotoRun) -> str:
    from fieldguide.errors import InputError
    from fieldguide.models.card import read_card
    from fieldguide.models.registry import canonical
    from fieldguide.training import parse_spec, train

    if (run.model / "model.onnx").is_file():
        trained = "+".join(canonical(b) for b in read_card(run.model).backbones)
        if trained != "+".join(canonical(b) for b in run.backbones):
            raise InputError(f"this folder's model is a probe on {trained}, not {run.backbone}: "
                             "pass another --out", path=run.model)
        return f"already trained: {run.model}"
    spec = parse_spec(
        {
            "name": "sample-probe",
            "mode": "linear-probe",
            "seed": 0,
            "data": {"manifest": str(run.manifest.resolve()), "label": "taxon"},
            "model": {"backbone": run.backbones if len(run.backbones) > 1
                      else run.backbones[0], "weights": "imagenet"},
            "run": {"progress": False},
        }
    )
    folder = run.model.parent
    result = train(spec, folder, resume=(folder / "checkpoints").is_dir())
    shown = ", ".join(
        f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.metrics.items()
    )
    return f"{shown}; model at {result.model_dir}"


def _evaluate(run: PhotoRun) -> str:
    from fieldguide.evaluation import evaluate, write_report
    from fieldguide.training import predict_split

    pred = predict_split(run.model, run.manifest, "test")
    result = evaluate(pred.probs, pred.y_true, pred.class_names, train_counts=pred.train_counts)
    written = write_report(result, run.out / "evaluation", title="Sample model on its test split")
    top1 = float((pred.probs.argmax(1) == pred.y_true).mean())
    run.lines.append(
        f"- evaluation: top-1 {top1:.4f} on {len(pred.y_true)} test photos, "
        f"report {written.get('html', '')}"
    )
    return f"top-1 {top1:.4f} on {len(pred.y_true)} photos; report in {run.out / 'evaluation'}"


def _calibrate(run: PhotoRun) -> str:
    from fieldguide.identification import calibrate, read_photos

    report = calibrate(run.model, read_photos(run.manifest, "val"))
    run.lines.append(f"- calibration (validation split): {report.text()}")
    return report.text()


def _reject(run: PhotoRun) -> str:
    from fieldguide.identification.rejector_fit import fit_model_rejector, report_text
    from fieldguide.models.card import read_card

    if "rejection" in read_card(run.model).extras:
        return f"already fitted: {run.model / 'rejection.npz'}"
    text = report_text(fit_model_rejector(run.model, run.manifest))
    run.lines.append(f"- rejection: {text}")
    return text


def _identify(run: PhotoRun) -> str:
    from fieldguide.identification import Identifier, IdentifyOptions, finish, read_photos
    from fieldguide.identification.risk import score_labelled

    # identify's defaults: threshold 0.9 from species up to family, the card's rejection
    identifier = Identifier.from_paths(run.model, IdentifyOptions(threads=2))
    model = identifier.model
    work = run.identified.with_name(".test.parts")
    result = identifier.annotate(read_photos(run.manifest, "test"), work)
    per_photo, per_observation = finish(result, run.identified, work)
    scored = score_labelled(
        result.probs,
        result.photos.column("label").to_pylist(),
        model.classes,
        model.tree(),
        identifier.rule,
        model.temperature,
        rejected=None if result.posterior is None else result.posterior.rejected,
    )
    text = f"{result.photos.num_rows} photos -> {per_photo}, {per_observation}"
    if "rejected" in result.photos.column_names:
        rejected = sum(bool(x) for x in result.photos.column("rejected").to_pylist())
        share = f"{rejected} of {result.photos.num_rows} test photos rejected " \
            f"({rejected / max(result.photos.num_rows, 1):.1%})"
        text += f"; {share}"
        run.lines.append(f"- rejection rate on the test split: {share}")
    if scored is not None:
        text += "\n" + scored.text()
        run.lines.append(f"- identification of the test photos: {scored.text()}")
    return text

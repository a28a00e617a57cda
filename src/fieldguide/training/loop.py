"""``train(spec)``: linear probe, partial or full fine-tuning, checkpointed every epoch, ending
with the model artefact (+ ONNX) and per-epoch metrics in CSV and JSON."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset, WeightedRandomSampler

import fieldguide.training.setup as setup
from fieldguide.embeddings.store import EncoderIdentity
from fieldguide.inputs.files import atomic_path
from fieldguide.models.artefact import ModelCard, save_model
from fieldguide.models.heads import FieldguideNet, multi_head_loss
from fieldguide.training.checkpoint import load_checkpoint, save_checkpoint, seed_everything
from fieldguide.training.data import Normaliser, PhotoDataset, collate, train_transform
from fieldguide.training.embeddings import embed_photos
from fieldguide.training.imbalance import imbalance_terms, sample_weights
from fieldguide.training.manifest import Manifest, load_data
from fieldguide.training.predict import predict
from fieldguide.training.probe import fit_heads, stream_options
from fieldguide.training.result import TrainResult, write_history
from fieldguide.training.spec import TrainSpec, run_folder


def _top1(probs: np.ndarray, y: np.ndarray) -> float:
    scored = y >= 0
    return float((probs[scored].argmax(1) == y[scored]).mean()) if scored.any() else float("nan")


def _probe(spec: TrainSpec, model: FieldguideNet, card: ModelCard, data: Manifest,
           out: Path, device: torch.device) -> tuple[dict[str, float], int]:
    """Fit the heads on the backbone's stored embeddings; score val/test on the same."""
    cache = spec.resolve(spec.probe.cache) if spec.probe.cache else out.parent / ".embeddings"
    identity = EncoderIdentity.of(card.backbone, card.weights, card.preprocessing.to_dict())
    feats, ok = embed_photos(model, data.paths, card.preprocessing.to_dict(), cache, identity,
                             batch_size=64, workers=spec.data.workers, device=device)
    model.cpu()
    train = data.select("train")
    train = train[ok[train]]
    weights, adjust = imbalance_terms(spec, data)
    val = data.select(spec.data.val_split)
    val = val[ok[val]]
    fit_heads(model, feats[train], data.targets[train], l2=spec.probe.l2,
              max_iter=spec.probe.max_iter, class_weights=weights, adjust=adjust,
              val=(feats[val], data.targets[val]) if len(val) else None,
              optimiser=spec.probe.optimiser, options=stream_options(spec))
    scores: dict[str, float] = {}
    with torch.no_grad():
        for split in (spec.data.val_split, spec.data.test_split):
            rows = data.select(split)
            rows = rows[ok[rows]]
            if len(rows):
                logits = model.heads(torch.from_numpy(feats[rows]))[model.head_names[0]]
                scores[f"{split}_top1"] = _top1(logits.numpy(), data.targets[rows, 0])
    return scores, int((~ok).sum())


def _epoch(spec: TrainSpec, model: FieldguideNet, data: Manifest, opt: torch.optim.Optimizer,
           epoch: int, device: torch.device, terms: tuple[dict[str, Any], dict[str, Any]],
           prep: dict[str, Any], bar: Any) -> dict[str, Any]:
    """One pass over train; RNGs are seeded from (seed, epoch) so a resumed epoch repeats."""
    seed = spec.seed * 100_003 + epoch
    seed_everything(seed)
    a = spec.augment
    rows = data.select("train")
    ds = Subset(PhotoDataset(data.paths, data.targets,
                             train_transform(prep, a.scale_min, a.ratio, a.hflip, a.color_jitter)),
                rows.tolist())
    g = torch.Generator().manual_seed(seed)
    w = sample_weights(data.targets[rows, 0], data.counts(0), spec.imbalance.sampling)
    sampler = WeightedRandomSampler(w.tolist(), len(rows), generator=g)
    loader = DataLoader(ds, batch_size=spec.optim.batch_size, sampler=sampler, collate_fn=collate,
                        num_workers=spec.data.workers, generator=g, drop_last=len(rows) > 1
                        and len(rows) % spec.optim.batch_size == 1)
    weights = {k: None if v is None else torch.from_numpy(v).float().to(device)
               for k, v in terms[0].items()}
    adjust = {k: torch.from_numpy(v).float().to(device) for k, v in terms[1].items()}
    norm = Normaliser(prep, device, spec.model.channels_last)
    model.train()
    setup.freeze_frozen_norms(model)
    amp = spec.run.amp and device.type == "cuda"
    task = bar.add_task(f"epoch {epoch}", total=len(loader), info="")
    seen, skipped, loss_sum, correct, start = 0, 0, 0.0, 0, time.perf_counter()
    for batch in loader:
        skipped += batch.skipped
        if batch.images.numel() == 0:
            bar.advance(task)
            continue
        x = norm(batch.images)
        y = batch.targets.to(device)
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext()
        with ctx:
            out = model(x)
            loss = multi_head_loss(out, {n: y[:, i] for i, n in enumerate(model.head_names)},
                                   weights, adjust, spec.optim.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        n = len(x)
        seen, loss_sum = seen + n, loss_sum + float(loss.detach()) * n
        correct += int((out[model.head_names[0]].argmax(1) == y[:, 0]).sum())
        rate = seen / (time.perf_counter() - start)
        bar.update(task, advance=1, info=f"loss {loss_sum / seen:.3f}  {rate:.1f} img/s")
    bar.remove_task(task)
    took = time.perf_counter() - start
    return {"epoch": epoch, "lr": opt.param_groups[0]["lr"], "train_loss": loss_sum / max(seen, 1),
            "train_top1": correct / max(seen, 1), "images_per_s": seen / took, "seconds": took,
            "skipped": skipped}


def _progress(enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), disable=not enabled, transient=True)


def _score(spec: TrainSpec, model: FieldguideNet, data: Manifest, split: str,
           device: torch.device, prep: dict[str, Any]) -> float | None:
    rows = data.select(split)
    if not len(rows):
        return None
    probs, ok = predict(model, [data.paths[i] for i in rows], prep,
                        workers=spec.data.workers, device=device,
                        channels_last=spec.model.channels_last)
    first = probs[model.head_names[0]]
    return _top1(first[ok], data.targets[rows[ok], 0])


def train(spec: TrainSpec, out: Path | None = None, *, resume: bool = False,
          on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Run a spec end to end; ``resume`` continues from ``<out>/checkpoints/last.pt``."""
    torch.set_num_threads(spec.run.threads)
    folder = run_folder(spec, out)
    data = load_data(spec)
    seed_everything(spec.seed)
    model, card = setup.make_model(spec, data)
    folder.mkdir(parents=True, exist_ok=True)  # only once the data and weights have been read
    prep = card.preprocessing.to_dict()
    device = setup.pick_device(spec)
    result = TrainResult(folder, None)
    (folder / "spec.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    if spec.mode == "linear-probe" or spec.probe.warm_start:
        scores, result.skipped = _probe(spec, model, card, data, folder, device)
        result.metrics.update({f"probe_{k}": v for k, v in scores.items()})
    if spec.mode == "linear-probe":
        result.history = [{"epoch": 0, **scores, "skipped": result.skipped}]
        write_history(folder, result.history)
        return _finish(spec, model, card, result, scores)
    params = setup.set_trainable(model, spec.mode, spec.model.partial_blocks)
    if spec.model.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.to(device)
    opt = setup.make_optimizer(spec, params)
    sched = setup.make_scheduler(spec, opt)
    ckpt, best_file = folder / "checkpoints" / "last.pt", folder / "checkpoints" / "best.pt"
    ckpt.parent.mkdir(exist_ok=True)
    start, best = 1, -1.0
    if resume and ckpt.is_file():
        state = load_checkpoint(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, best, result.history = state["epoch"] + 1, state["best"], state["history"]
    terms = imbalance_terms(spec, data)
    with _progress(spec.run.progress) as bar:
        for epoch in range(start, spec.optim.epochs + 1):
            row = _epoch(spec, model, data, opt, epoch, device, terms, prep, bar)
            sched.step()
            val = _score(spec, model, data, spec.data.val_split, device, prep)
            row["val_top1"] = val
            result.history.append(row)
            if val is not None and val > best:
                best = val
                with atomic_path(best_file) as tmp:  # a kill mid-write leaves the old best
                    torch.save(model.state_dict(), tmp)
            save_checkpoint(ckpt, model=model.state_dict(), optimizer=opt.state_dict(),
                            scheduler=sched.state_dict(), epoch=epoch, best=best,
                            history=result.history)
            write_history(folder, result.history)
            if on_epoch is not None:
                on_epoch(row)
            if spec.run.stop_after_epoch and epoch >= spec.run.stop_after_epoch:
                result.stopped_early = True
                return result
    if best >= 0:  # the epoch with the best validation top-1; without val: the last epoch
        model.load_state_dict(torch.load(best_file, map_location=device, weights_only=True))
    result.skipped += sum(int(r.get("skipped", 0)) for r in result.history)
    scores = {"val_top1": best} if best >= 0 else {}
    test = _score(spec, model, data, spec.data.test_split, device, prep)
    if test is not None:
        scores["test_top1"] = test
    return _finish(spec, model.cpu().to(memory_format=torch.contiguous_format), card, result,
                   scores)


def _finish(spec: TrainSpec, model: FieldguideNet, card: ModelCard, result: TrainResult,
            scores: dict[str, float]) -> TrainResult:
    """Save the artefact (+ ONNX) with its metrics."""
    result.metrics.update(scores)
    result.metrics["skipped_images"] = result.skipped
    card.metrics = {**result.metrics, "history": result.history}
    card.outputs = model.output_names
    result.model_dir = save_model(model.eval(), card, result.out / "model")
    if spec.run.export_onnx:
        from fieldguide.models.onnx import export_onnx

        export_onnx(model, card, result.model_dir)
    (result.out / "summary.json").write_text(json.dumps(result.metrics, indent=2) + "\n")
    return result

"""What the service loads once and how it answers: its :class:`Settings` (limits and
batching) and :class:`Service`, which decodes uploads, micro-batches them into one model call
and answers each observation through the :class:`~fieldguide.identification.Identifier`, the
same object ``fieldguide identify`` answers through. Nothing here decides anything: the
decision, its rank and the rejection are the decision core's."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date as Date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import HTTPException

from fieldguide.errors import InputError
from fieldguide.service.batcher import Batcher, Full
from fieldguide.service.metrics import Metrics
from fieldguide.service.schema import (
    Decision,
    Identification,
    ImageResult,
    MemberInfo,
    ModelInfo,
    Result,
    Trait,
)

if TYPE_CHECKING:
    from fieldguide.family.model import FamilyModel
    from fieldguide.identification import Decisions, Identifier, IdentifyOptions, Rejector
    from fieldguide.identification.posterior import Context, Prior

REJECTED, REASON, SCORE = "rejected", "reject_reason", "ood_score"  # beside the outputs


@dataclass(frozen=True)
class Settings:
    """Limits and batching: images per request, bytes and pixels per image (413/422
    beyond), rows per ONNX call, how long to gather a batch, the queue bound (503 beyond),
    the model calls run at once and ONNX Runtime's threads in each, the per-request
    timeout (504), the folder ``/v1/identify/batch`` may read paths from (off when None)
    and the hosts it may fetch URLs from (none when empty: a service that fetched any URL
    would let its callers reach whatever it can reach).

    Two calls of one thread each rather than one call of two threads: the threads of one
    call hand work to each other inside every operator, which cost a fifth to a third more
    CPU per photo than a single thread (docs/benchmarks.md, issue 27), and two calls keep
    both cores on the model while the event loop and decoders have work of their own
    (``identify``'s ``threads`` option does not apply to the service)."""

    max_images: int = 10
    max_bytes: int = 16 * 2**20
    max_pixels: int = 50_000_000
    max_batch: int = 32
    wait_ms: float = 4.0
    max_queue: int = 256
    batches_in_flight: int = 2
    model_threads: int = 1
    timeout_s: float = 30.0
    decode_threads: int = 4
    allow_paths: Path | None = None
    allow_hosts: tuple[str, ...] = ()


def _decision(d: Decisions, provenance: str | None = None) -> Decision:
    """Row 0 of the decision core's decisions, as ``identify`` writes its columns."""
    threshold = None if d.threshold is None else float(d.threshold[0])
    return Decision(taxon=d.taxon[0] or None, rank=d.rank[0] or None,
                    probability=float(d.probability[0]),
                    auto_validated=bool(d.auto_validated[0]), threshold=threshold,
                    provenance=provenance)


class Service:
    """What is loaded once: the identifier (model, priors, rejection, rule), the index and
    the batcher."""

    def __init__(self, model: str | Path, options: IdentifyOptions, index: str | Path | None,
                 settings: Settings) -> None:
        from fieldguide.identification import Identifier
        from fieldguide.models.pixels import ImageLimits

        self.settings = settings
        # a server's decoding and HTTP threads need the cores ONNX Runtime would spin on
        served = replace(options, spinning=False, threads=settings.model_threads)
        self.identifier: Identifier = Identifier.from_paths(model, served)
        # the service scores photos: a heads-only model is refused here, in one line
        self.crop = self.identifier.pixels.crop
        self.limits = ImageLimits(max_bytes=settings.max_bytes, max_pixels=settings.max_pixels)
        self.index: Any = None
        self._rows: dict[str, int] | None = None
        if index is not None:
            from fieldguide.search import open_index

            self.index = open_index(index)
        self.metrics = Metrics()
        self.pool = ThreadPoolExecutor(settings.decode_threads, thread_name_prefix="decode")
        self.batcher = Batcher(self._run_batch, settings.max_batch, settings.wait_ms / 1000,
                               settings.max_queue, self.metrics.batch_size.observe,
                               settings.batches_in_flight)
        card = self.identifier.model.card
        self.info = ModelInfo(name=card.name, version=card.version, classes=len(self.classes))
        from fieldguide.family.model import FamilyModel

        loaded = self.identifier.model
        #: A family answers per source; its members are replaced while it serves.
        self.family: FamilyModel | None = loaded if isinstance(loaded, FamilyModel) else None

    def members(self) -> list[MemberInfo]:
        """``GET /v1/models``: a family's members (after any replacement on disk), or the
        one model."""
        if self.family is None:
            card = self.identifier.model.card
            return [MemberInfo(name=card.name, version=card.version, role="model",
                               classes=list(card.classes), metrics={
                                   k: v for k, v in card.metrics.items() if k != "history"})]
        self.family.refresh()
        return [MemberInfo(name=m.name, version=m.version, role=m.role, group=m.group,
                           source=m.source, classes=list(m.classes), metrics=m.metrics,
                           release_notes=m.release_notes)
                for m in self.family.family.members]

    def source_model(self, source: str | None) -> FamilyModel | None:
        """The family answering for ``source`` (422 for a source the family lacks, or for
        a source given to a single model); None for a single model without one."""
        if self.family is None:
            if source is not None:
                raise HTTPException(422, "source picks a family's customisation; this "
                                    "service runs a single model")
            return None
        self.family.refresh()
        try:
            return self.family.with_source(source) if source is not None else self.family
        except InputError as exc:
            raise HTTPException(422, exc.reason) from None

    @property
    def classes(self) -> list[str]:
        return self.identifier.classes

    @property
    def priors(self) -> list[Prior]:
        return self.identifier.priors

    @property
    def rejector(self) -> Rejector | None:
        return self.identifier.rejector

    @rejector.setter
    def rejector(self, rejector: Rejector | None) -> None:
        self.identifier.rejector = rejector

    @property
    def outputs(self) -> tuple[str, ...]:
        embedding = self.index is not None or self.family is not None
        return self.identifier.outputs(*(["embedding"] if embedding else []))

    def lineage(self, taxon: str) -> dict[str, str]:
        return self.identifier.lineage(taxon)

    def rank_of(self, j: int) -> str | None:
        """Class ``j``'s own rank (as the decision core reports it), None where it has none."""
        return self.identifier.model.tree().class_rank[j] or None

    def _run_batch(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """One model call for the gathered photos, and their rejection scored together (its
        matrix products are cheaper per photo in a batch than one by one)."""
        out = self.identifier.score_crops(list(crops), self.outputs)
        rej = self.identifier.reject(out, np.ones(len(crops), dtype=bool))
        if rej is not None:
            out[REJECTED] = np.asarray(rej.rejected, dtype=bool)
            out[REASON] = np.asarray(rej.reason, dtype=object)
            out[SCORE] = np.asarray(rej.ood_score, dtype=np.float64)
        return out

    def index_row(self, photo_id: str) -> int | None:
        """The index row of an indexed photo (the lookup table is built on first use)."""
        if self._rows is None:
            self._rows = {p: i for i, p in enumerate(self.index.column("photo_id"))}
        return self._rows.get(photo_id)

    def decode(self, data: bytes | str) -> np.ndarray | str:
        from fieldguide.models.pixels import load_crop

        return load_crop(data, self.crop, limits=self.limits)

    async def identify(self, sources: Sequence[bytes | str], names: Sequence[str], *,
                       context: Context | None, taxon: str | None, k: int,
                       no_reject: bool, source: str | None = None,
                       taxa: Sequence[str] = (), within: str | None = None
                       ) -> Identification:
        family = self.source_model(source)
        try:
            filters: list[Prior] = [self.identifier.subtree(taxon)] if taxon else []
            if taxa:
                filters.append(self.identifier.checklist(taxa))
            if within:
                filters += self.identifier.restrictions(within=within, field="within")
        except InputError as exc:
            raise HTTPException(422, exc.reason) from None
        loop = asyncio.get_running_loop()
        crops = await asyncio.gather(*(loop.run_in_executor(self.pool, self.decode, s)
                                       for s in sources))
        good = [c for c in crops if not isinstance(c, str)]
        if not good:
            reason = "; ".join(f"{n}: {c}" for n, c in zip(names, crops, strict=True))
            raise HTTPException(422, f"no usable image ({reason})")
        try:
            outputs = await asyncio.wait_for(self.batcher.submit(np.stack(good)),
                                             self.settings.timeout_s)
        except Full:
            raise HTTPException(503, "the service is busy; retry shortly",
                                headers={"Retry-After": "1"}) from None
        except TimeoutError:
            raise HTTPException(504, "identification timed out") from None
        self.metrics.queue_depth.set(self.batcher.depth())
        # the posterior is NumPy work: off the event loop
        if family is not None:  # the batch is the shared encoder's; the members, per source
            outputs = {**outputs, "logits": family.log_probs(outputs["embedding"])}
        return await loop.run_in_executor(self.pool, self._decide, outputs, crops, names,
                                          context, filters, k, no_reject, family)

    def _decide(self, outputs: dict[str, np.ndarray], crops: Sequence[np.ndarray | str],
                names: Sequence[str], context: Context | None, filters: list[Prior], k: int,
                no_reject: bool, family: FamilyModel | None = None) -> Identification:
        """The decoded photos as one observation, decided by the identifier exactly as
        ``identify`` decides an observation (rejected photos left out of the combination
        unless all are; the observation rejected only then)."""
        from fieldguide.identification import Rejection
        from fieldguide.identification.provenance import provenance

        rejection = None
        if REJECTED in outputs and not no_reject:
            rejection = Rejection(outputs[SCORE], outputs[REJECTED],
                                  [str(r) for r in outputs[REASON]])
        answer = self.identifier.observation(outputs["logits"], rejection, context, filters)
        post = answer.decided.observations
        obs_rej = answer.rejection
        how = provenance(post.decisions, self.identifier.model.tree(),
                         np.isfinite(post.probs).all(axis=1), post.changed_by,
                         None if obs_rej is None else obs_rej.rejected,
                         None if obs_rej is None else obs_rej.reason)[0]
        rejected = bool(obs_rej is not None and obs_rej.rejected[0])
        reason = (obs_rej.reason[0] or "unknown taxon") if obs_rej is not None and rejected \
            else None
        if rejected:
            self.metrics.rejections.inc()
        classes = self.classes
        local = family.local_names if family is not None else {}
        probs = post.probs[0]
        top = np.argsort(-probs, kind="stable")[:k]
        results = [Result(
            taxon=classes[j], rank=self.rank_of(j), lineage=self.lineage(classes[j]),
            score=float(probs[j]), vision_score=float(post.vision[0, j]),
            prior_score=None if post.prior_score is None else float(post.prior_score[0, j]),
            expected_nearby=None if post.expected_nearby is None
            else bool(post.expected_nearby[0, j]), local_name=local.get(classes[j]))
            for j in top if probs[j] > 0]
        self._add_references(outputs, results)
        per_photo = answer.decided.photos.vision
        images, row = [], 0
        for i, (name, crop) in enumerate(zip(names, crops, strict=True)):
            if isinstance(crop, str):
                images.append(ImageResult(index=i, filename=name, error=crop))
                continue
            j = int(np.argmax(per_photo[row]))
            images.append(ImageResult(index=i, filename=name, taxon=classes[j],
                                      score=float(per_photo[row, j])))
            row += 1
        outside = None if post.mass_outside is None else float(post.mass_outside[0])
        decided = answer.decision.taxon[0]
        return Identification(results=results, decision=_decision(answer.decision, how),
                              common_ancestor=_decision(answer.ancestor),
                              local_name=local.get(decided) if decided else None,
                              mass_outside=outside,
                              rejected=rejected, reject_reason=reason, images=images,
                              similar=self._similar(outputs), model=self.info,
                              members=family.members_of([int(top[0])])[0].split(";")
                              if family is not None and len(top) else None,
                              traits=_traits(family, outputs, top))

    def _add_references(self, outputs: dict[str, np.ndarray], results: list[Result]) -> None:
        """Each suggestion's reference photos: the indexed photos labelled inside its taxon
        nearest the observation's mean embedding (none without an index)."""
        if self.index is None or not results:
            return
        from fieldguide.service.references import references

        query = outputs["embedding"].mean(axis=0, keepdims=True)
        found = references(self.index, query, [r.taxon for r in results])
        for result, refs in zip(results, found, strict=True):
            result.references = refs

    def _similar(self, outputs: dict[str, np.ndarray]) -> list[dict[str, object]]:
        if self.index is None:
            return []
        from fieldguide.search import similar

        query = outputs["embedding"].mean(axis=0, keepdims=True)
        return list(similar(self.index, query, k=5).records(self.index))


def context_of(latitude: float | None, longitude: float | None,
               day: str | None) -> Context | None:
    """The observation's place and season (422 for a date that is not a past ISO date)."""
    from fieldguide.identification.posterior import Context

    if (latitude is None) != (longitude is None):
        raise HTTPException(422, "give both latitude and longitude, or neither")
    doy = np.nan
    if day:
        try:
            when = Date.fromisoformat(day)
        except ValueError:
            raise HTTPException(422, f"date {day!r} is not an ISO date (YYYY-MM-DD)") from None
        if when > Date.today():
            raise HTTPException(422, f"date {day} is in the future")
        doy = when.timetuple().tm_yday
    if latitude is None and not day:
        return None
    nan = np.nan
    return Context.of([nan if latitude is None else latitude],
                      [nan if longitude is None else longitude], [doy])


def _traits(family: FamilyModel | None, outputs: dict[str, np.ndarray], top: np.ndarray
            ) -> dict[str, Trait] | None:
    """A family's trait members' answers for the top taxon's group, on the observation's
    mean embedding (None when that group has no trait member)."""
    if family is None or not len(top) or not family.trait_columns:
        return None
    query = outputs["embedding"].mean(axis=0, keepdims=True)
    got = {column: Trait(value=values[0], probability=float(probs[0] or 0.0))
           for column, (values, probs) in family.traits_of(query, [int(top[0])]).items()
           if values[0] is not None}
    return got or None

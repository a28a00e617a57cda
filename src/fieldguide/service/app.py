"""FastAPI app factory. Every decision is the library's: ``pixels.crop_pixels`` decodes,
``runner.score`` runs the model (micro-batched), ``combine_observations`` merges the photos
of one observation, ``posterior`` applies the prior and decides, the model card's
``Rejector`` rejects. Nothing here re-implements that logic, so the service and
``fieldguide identify`` always agree."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from fieldguide.service.batcher import Batcher, Full
from fieldguide.service.metrics import Metrics
from fieldguide.service.schema import (
    Decision,
    Identification,
    ImageResult,
    ModelInfo,
    Result,
    Taxon,
)

if TYPE_CHECKING:
    from fieldguide.identification import Classifier
    from fieldguide.identification.annotate import Rejector
    from fieldguide.identification.posterior import Context, Prior, PriorOutput

LOG = logging.getLogger("fieldguide.service")
REJECTED, REASON = "rejected", "reject_reason"  # the batch's rejection, beside the outputs
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Settings:
    """Limits and batching: images per request, bytes and pixels per image (413/422
    beyond), rows per ONNX call, how long to gather a batch, the queue bound (503 beyond),
    the per-request timeout (504), the folder ``/v1/identify/batch`` may read paths from
    (off when None) and the hosts it may fetch URLs from (none when empty: a service that
    fetched any URL would let its callers reach whatever it can reach)."""

    max_images: int = 10
    max_bytes: int = 16 * 2**20
    max_pixels: int = 50_000_000
    max_batch: int = 32
    wait_ms: float = 4.0
    max_queue: int = 256
    timeout_s: float = 30.0
    decode_threads: int = 4
    allow_paths: Path | None = None
    allow_hosts: tuple[str, ...] = ()


class Subtree:
    """A taxon filter as a prior (the ``taxon`` field, like iNaturalist's ``taxon_id``):
    classes outside the subtree get probability 0, the rest are renormalised."""

    name = "taxon filter"

    def __init__(self, keep: np.ndarray) -> None:
        self.keep = keep

    def apply(self, probs: np.ndarray, context: Context,
              classes: Sequence[str]) -> PriorOutput:
        from fieldguide.identification.posterior import PriorOutput

        kept = np.where(self.keep[None, :], probs, 0.0)
        total = kept.sum(axis=1, keepdims=True)
        return PriorOutput(np.divide(kept, total, out=np.zeros_like(kept), where=total > 0))


def load_rejector(clf: Classifier) -> Rejector | None:
    """The rejection the model card carries, loaded only when it has one (as
    ``fieldguide identify`` does)."""
    if "rejection" not in clf.card.extras:
        return None
    from fieldguide.identification.reject import load_rejector as load

    # FittedRejector's read-only ``outputs`` property satisfies the protocol at run time.
    return cast("Rejector", load(clf))


class Service:
    """What is loaded once: the model, prior, index, rejector and the batcher."""

    def __init__(self, model: str | Path, prior: str | Path | None, index: str | Path | None,
                 settings: Settings) -> None:
        from fieldguide.identification import Classifier
        from fieldguide.identification.runner import score
        from fieldguide.models.pixels import ImageLimits

        self.settings = settings
        self.clf = Classifier(model, spinning=False)
        self.limits = ImageLimits(max_bytes=settings.max_bytes, max_pixels=settings.max_pixels)
        self.priors: list[Prior] = []
        if prior is not None:
            from fieldguide.priors import load_prior

            self.priors.append(load_prior(prior))
        self.index: Any = None
        self._rows: dict[str, int] | None = None
        if index is not None:
            from fieldguide.search import open_index

            self.index = open_index(index)
        self.rejector = load_rejector(self.clf)
        self.outputs = ["logits", *(self.rejector.outputs if self.rejector else ()),
                        *(["embedding"] if self.index is not None and (
                            not self.rejector or "embedding" not in self.rejector.outputs)
                          else [])]
        self.metrics = Metrics()
        self.pool = ThreadPoolExecutor(settings.decode_threads, thread_name_prefix="decode")
        self._score = score
        self.batcher = Batcher(self._run_batch, settings.max_batch, settings.wait_ms / 1000,
                               settings.max_queue, self.metrics.batch_size.observe)
        card = self.clf.card
        self.info = ModelInfo(name=card.name, version=card.version, classes=len(self.clf.classes))

    def lineage(self, taxon: str) -> dict[str, str]:
        return dict(self.clf.card.lineage.get(taxon, {}))

    def _run_batch(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """One ONNX call for the gathered photos, and their rejection scored together (its
        matrix products are cheaper per photo in a batch than one by one)."""
        out: dict[str, np.ndarray] = self._score(list(crops), self.clf, self.outputs)[0]
        if self.rejector is not None:
            rej = self.rejector.reject(out, np.ones(len(crops), dtype=bool))
            out[REJECTED] = np.asarray(rej.rejected, dtype=bool)
            out[REASON] = np.asarray(rej.reason, dtype=object)
        return out

    def index_row(self, photo_id: str) -> int | None:
        """The index row of an indexed photo (the lookup table is built on first use)."""
        if self._rows is None:
            self._rows = {p: i for i, p in enumerate(self.index.column("photo_id"))}
        return self._rows.get(photo_id)

    def subtree(self, taxon: str) -> Subtree:
        keep = np.array([c == taxon or taxon in self.lineage(c).values()
                         for c in self.clf.classes])
        if not keep.any():
            raise HTTPException(422, f"taxon {taxon!r} is not in the model's classes or their "
                                "lineage (see GET /v1/taxa?q=)")
        return Subtree(keep)

    def decode(self, data: bytes | str) -> np.ndarray | str:
        from fieldguide.models.pixels import load_crop

        return load_crop(data, self.clf.crop, limits=self.limits)

    async def identify(self, sources: Sequence[bytes | str], names: Sequence[str], *,
                       context: Context | None, taxon: str | None, k: int,
                       no_reject: bool) -> Identification:
        filters: list[Prior] = [self.subtree(taxon)] if taxon else []
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
        # rejection scores and the posterior are NumPy work: off the event loop
        return await loop.run_in_executor(self.pool, self._decide, outputs, crops, names,
                                          context, filters, k, no_reject)

    def _decide(self, outputs: dict[str, np.ndarray], crops: Sequence[np.ndarray | str],
                names: Sequence[str], context: Context | None, filters: list[Prior], k: int,
                no_reject: bool) -> Identification:
        """Per-photo vision, the observation's combined photos, then the posterior."""
        from fieldguide.identification.annotate import combine_observations
        from fieldguide.identification.posterior import posterior, softmax

        clf = self.clf
        logits = outputs["logits"]
        n = len(logits)
        ok = np.ones(n, dtype=bool)
        rejected, reason = False, None
        if REJECTED in outputs and not no_reject and outputs[REJECTED].all():
            rejected, reason = True, str(outputs[REASON][0]) or "unknown taxon"
            self.metrics.rejections.inc()
        per_photo = softmax(logits, clf.temperature)
        _, combined, _ = combine_observations(np.log(per_photo), ["o"] * n, ok)
        post = posterior(np.log(combined), clf.tree(), classes=clf.classes,
                         priors=[*filters, *self.priors], context=context,
                         rejected=np.array([rejected]))
        probs = post.probs[0]
        top = np.argsort(-probs, kind="stable")[:k]
        results = [Result(
            taxon=clf.classes[j], lineage=self.lineage(clf.classes[j]), score=float(probs[j]),
            vision_score=float(post.vision[0, j]),
            prior_score=None if post.prior_score is None else float(post.prior_score[0, j]),
            expected_nearby=None if post.expected_nearby is None
            else bool(post.expected_nearby[0, j])) for j in top if probs[j] > 0]
        d = post.decisions
        ancestor = Decision(taxon=d.taxon[0] or None, rank=d.rank[0] or None,
                            probability=float(d.probability[0]),
                            auto_validated=bool(d.auto_validated[0]))
        best = results[0] if results else None
        decision = Decision(taxon=best.taxon if best else None, rank="species" if best else None,
                            probability=best.score if best else None,
                            auto_validated=ancestor.auto_validated and ancestor.rank == "species")
        images, row = [], 0
        for i, (name, crop) in enumerate(zip(names, crops, strict=True)):
            if isinstance(crop, str):
                images.append(ImageResult(index=i, filename=name, error=crop))
                continue
            j = int(np.argmax(per_photo[row]))
            images.append(ImageResult(index=i, filename=name, taxon=clf.classes[j],
                                      score=float(per_photo[row, j])))
            row += 1
        return Identification(results=results, decision=decision, common_ancestor=ancestor,
                              rejected=rejected, reject_reason=reason, images=images,
                              similar=self._similar(outputs), model=self.info)

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


def _message(exc: RequestValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e['msg']}"
                     for e in exc.errors())


def log_to_stderr() -> None:
    """Send the one JSON line per request to stderr (``fieldguide serve`` does this; a host
    application embedding ``create_app`` configures logging its own way)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)


def from_environment() -> FastAPI:
    """The app ``fieldguide serve --workers N`` starts in each worker process (uvicorn needs
    an import string there); the options travel in ``FIELDGUIDE_SERVE``."""
    import os

    log_to_stderr()
    opts = json.loads(os.environ["FIELDGUIDE_SERVE"])
    allow = opts.get("allow_paths")
    return create_app(opts["model"], opts.get("prior"), opts.get("index"),
                      Settings(allow_paths=Path(allow) if allow else None,
                               allow_hosts=tuple(opts.get("allow_hosts") or ())))


def create_app(model: str | Path, prior: str | Path | None = None,
               index: str | Path | None = None, settings: Settings | None = None) -> FastAPI:
    """Load the model (and prior, index) once and serve it; tests run this in-process."""
    svc = Service(model, prior, index, settings or Settings())
    cfg = svc.settings
    app = FastAPI(title="fieldguide identification", version=svc.info.version)
    app.state.service = svc

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _message(exc)}, status_code=422)

    @app.middleware("http")
    async def observe(request: Request,
                      call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "other")
        latency = time.perf_counter() - start
        svc.metrics.observe(path, response.status_code, latency)
        LOG.info(json.dumps({"route": path, "method": request.method,
                             "status": response.status_code, "ms": round(latency * 1000, 1),
                             "images": getattr(request.state, "images", None),
                             "rejected": getattr(request.state, "rejected", None)}))
        return response

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> dict[str, Any]:
        return {"ready": True, "model": svc.info.model_dump(), "prior": bool(svc.priors),
                "index": svc.index is not None, "rejection": svc.rejector is not None}

    @app.get("/metrics")
    def metrics() -> Response:
        svc.metrics.queue_depth.set(svc.batcher.depth())
        body, kind = svc.metrics.render()
        return Response(body, media_type=kind)

    @app.get("/v1/taxa")
    def taxa(q: Annotated[str, Query(min_length=1, max_length=200)]) -> list[Taxon]:
        needle = q.casefold()
        return [Taxon(taxon=c, lineage=svc.lineage(c)) for c in svc.clf.classes
                if needle in c.casefold()
                or any(needle in v.casefold() for v in svc.lineage(c).values())]

    @app.get("/v1/taxa/{taxon}")
    def taxon(taxon: str) -> Taxon:
        if taxon not in svc.clf.classes:
            raise HTTPException(404, f"unknown taxon {taxon!r} (see GET /v1/taxa?q=)")
        return Taxon(taxon=taxon, lineage=svc.lineage(taxon))

    @app.post("/v1/identify")
    async def identify(
        request: Request,
        images: Annotated[list[UploadFile], File(description="1 to 10 photos of one observation")],
        latitude: Annotated[float | None, Form(ge=-90, le=90)] = None,
        longitude: Annotated[float | None, Form(ge=-180, le=180)] = None,
        date: Annotated[str | None, Form(max_length=10)] = None,
        taxon: Annotated[str | None, Form(max_length=200)] = None,
        k: Annotated[int, Form(ge=1, le=100)] = 5,
        no_reject: Annotated[bool, Form()] = False,
    ) -> Identification:
        if not 1 <= len(images) <= cfg.max_images:
            raise HTTPException(422, f"send 1 to {cfg.max_images} images, not {len(images)}")
        context = context_of(latitude, longitude, date)
        datas = []
        for f in images:
            data = await f.read(cfg.max_bytes + 1)
            if len(data) > cfg.max_bytes:
                raise HTTPException(413, f"{f.filename}: over the {cfg.max_bytes:,}-byte limit")
            datas.append(data)
        request.state.images = len(datas)
        answer = await svc.identify(datas, [f.filename or "" for f in images], context=context,
                                    taxon=taxon, k=k, no_reject=no_reject)
        request.state.rejected = answer.rejected
        return answer

    @app.post("/v1/identify/batch")
    async def identify_batch(paths: list[str], k: int = 5) -> list[Identification | dict[str, str]]:
        """One observation per entry: a path inside the server's ``--allow-paths`` folder, or
        an http(s) URL on one of its ``--allow-hosts`` (fetched once, redirects refused).
        Entries that cannot be read or used come back as ``{"path", "error"}`` rows."""
        from urllib.parse import urlsplit

        from fieldguide.photos.client import FetchOptions, download, make_client

        if cfg.allow_paths is None and not cfg.allow_hosts:
            raise HTTPException(403, "batch identification is off (start with --allow-paths "
                                "or --allow-hosts)")
        if len(paths) > 1000:
            raise HTTPException(413, "at most 1,000 paths per request")
        sources: list[str] = []
        for p in paths:
            if p.lower().startswith(("http://", "https://")):
                host = (urlsplit(p).hostname or "").lower()
                if host not in cfg.allow_hosts:
                    raise HTTPException(403, f"{p}: host {host!r} is not allowed "
                                        "(--allow-hosts)")
                sources.append(p)
                continue
            if cfg.allow_paths is None:
                raise HTTPException(403, f"{p}: paths are off (start with --allow-paths)")
            root = cfg.allow_paths.resolve()
            full = (root / p).resolve()
            if not full.is_relative_to(root):
                raise HTTPException(403, f"{p}: outside the allowed folder")
            sources.append(str(full))
        out: list[Identification | dict[str, str]] = []
        options = FetchOptions(timeout=min(cfg.timeout_s, 30.0), max_bytes=cfg.max_bytes)
        async with make_client(options, redirects=False) as client:
            for p, source in zip(paths, sources, strict=True):
                data: bytes | str = source
                if source.startswith(("http://", "https://")):
                    data = await download(client, source, cfg.max_bytes)
                    if isinstance(data, str):
                        out.append({"path": p, "error": data})
                        continue
                try:
                    out.append(await svc.identify([data], [p], context=None, taxon=None,
                                                  k=k, no_reject=False))
                except HTTPException as exc:
                    if exc.status_code != 422:
                        raise
                    out.append({"path": p, "error": str(exc.detail)})
        return out

    @app.get("/v1/similar")
    def similar(photo_id: Annotated[str, Query(min_length=1, max_length=500)],
                k: Annotated[int, Query(ge=1, le=100)] = 10,
                taxon: Annotated[str | None, Query(max_length=200)] = None
                ) -> list[dict[str, Any]]:
        """The photos of the index most similar to one of its own photos (a new photo's
        similar photos come back in ``POST /v1/identify``)."""
        if svc.index is None:
            raise HTTPException(404, "no index loaded (start with --index)")
        from fieldguide.errors import InputError
        from fieldguide.search import similar as nearest

        row = svc.index_row(photo_id)
        if row is None:
            raise HTTPException(404, f"photo {photo_id!r} is not in the index")
        query = svc.index.vectors(np.array([row]))
        try:
            found = nearest(svc.index, query, k=k + 1, taxon=taxon)
        except InputError as exc:
            raise HTTPException(422, exc.reason) from None
        rows = [r for r in found.records(svc.index) if r["photo_id"] != photo_id][:k]
        for rank, r in enumerate(rows, 1):
            r["rank"] = rank
            r.pop("query", None)
        return rows

    @app.get("/v1/candidates")
    def candidates(taxon: str, min_score: float = 0.5,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
        if svc.index is None:
            raise HTTPException(404, "no index loaded (start with --index)")
        from fieldguide.errors import InputError
        from fieldguide.search import candidates as find

        try:
            return find(svc.index, taxon, min_score=min_score, limit=limit)
        except InputError as exc:
            raise HTTPException(422, exc.reason) from None

    app.mount("/", StaticFiles(directory=STATIC, html=True), name="page")
    return app

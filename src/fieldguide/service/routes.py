"""The service's routes: health, readiness and metrics, the model's taxa, and identification
(one observation uploaded, or a batch of paths and URLs). Each route only checks its input
and hands the photos to the :class:`~fieldguide.service.state.Service`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import Response

from fieldguide.service.schema import Identification, MemberInfo, Taxon
from fieldguide.service.state import Service, context_of

router = APIRouter()


async def service(request: Request) -> Service:
    """The app's loaded service (``create_app`` puts it in ``app.state``); a coroutine, since
    FastAPI hands a plain function dependency to a worker thread on every request."""
    svc: Service = request.app.state.service
    return svc


Svc = Annotated[Service, Depends(service)]


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
def ready(svc: Svc) -> dict[str, Any]:
    return {"ready": True, "model": svc.info.model_dump(), "prior": bool(svc.priors),
            "index": svc.index is not None, "rejection": svc.rejector is not None}


@router.get("/metrics")
def metrics(svc: Svc) -> Response:
    svc.metrics.queue_depth.set(svc.batcher.depth())
    body, kind = svc.metrics.render()
    return Response(body, media_type=kind)


@router.get("/v1/models")
def models(svc: Svc) -> list[MemberInfo]:
    """The models answering: a family's members (version, classes, metrics, release notes),
    re-read when a member was replaced, or the one model."""
    return svc.members()


@router.get("/v1/taxa")
def taxa(svc: Svc, q: Annotated[str, Query(min_length=1, max_length=200)]) -> list[Taxon]:
    needle = q.casefold()
    return [Taxon(taxon=c, lineage=svc.lineage(c)) for c in svc.classes
            if needle in c.casefold()
            or any(needle in v.casefold() for v in svc.lineage(c).values())]


@router.get("/v1/taxa/{taxon}")
def taxon(svc: Svc, taxon: str) -> Taxon:
    if taxon not in svc.classes:
        raise HTTPException(404, f"unknown taxon {taxon!r} (see GET /v1/taxa?q=)")
    return Taxon(taxon=taxon, lineage=svc.lineage(taxon))


def split_names(text: str | None) -> list[str]:
    """A ``taxa`` field's names (commas or new lines between them)."""
    return [n.strip() for n in (text or "").replace("\n", ",").split(",") if n.strip()]


@router.post("/v1/identify")
async def identify(
    request: Request,
    svc: Svc,
    images: Annotated[list[UploadFile], File(description="1 to 10 photos of one observation")],
    latitude: Annotated[float | None, Form(ge=-90, le=90)] = None,
    longitude: Annotated[float | None, Form(ge=-180, le=180)] = None,
    date: Annotated[str | None, Form(max_length=10)] = None,
    taxon: Annotated[str | None, Form(max_length=200)] = None,
    k: Annotated[int, Form(ge=1, le=100)] = 5,
    no_reject: Annotated[bool, Form()] = False,
    source: Annotated[str | None, Form(max_length=200, description="A family's source: its "
                                       "customised members answer.")] = None,
    taxa: Annotated[str | None, Form(max_length=20000, description="A checklist: taxon "
                                     "names separated by commas or new lines; answers only "
                                     "among them (renormalised).")] = None,
    within: Annotated[str | None, Form(max_length=200, description="Answer only within this "
                                       "taxon (renormalised).")] = None,
) -> Identification:
    cfg = svc.settings
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
                                taxon=taxon, k=k, no_reject=no_reject, source=source,
                                taxa=split_names(taxa), within=within)
    request.state.rejected = answer.rejected
    return answer


@router.post("/v1/identify/batch")
async def identify_batch(svc: Svc, paths: list[str],
                         k: int = 5) -> list[Identification | dict[str, str]]:
    """One observation per entry: a path inside the server's ``--allow-paths`` folder, or
    an http(s) URL on one of its ``--allow-hosts`` (fetched once, redirects refused).
    Entries that cannot be read or used come back as ``{"path", "error"}`` rows."""
    from urllib.parse import urlsplit

    from fieldguide.photos.client import FetchOptions, download, make_client

    cfg = svc.settings
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

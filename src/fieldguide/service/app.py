"""The FastAPI app factory: load the :class:`~fieldguide.service.state.Service` once (the
model, priors, rejection and rule behind one ``Identifier``, as ``fieldguide identify`` loads
them) and the review desk (``-s STUDY --reviewers FILE``, with its queues), then wire its
routes (``routes``, ``routes_search``, ``routes_page``, ``routes_review``), one JSON log line
and the metrics per request, and the static pages. Nothing here decides anything, so the service and
``fieldguide identify`` always agree."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldguide.service.routes import router as routes
from fieldguide.service.routes_page import router as page_routes
from fieldguide.service.routes_review import router as review_routes
from fieldguide.service.routes_search import router as search_routes
from fieldguide.service.state import Service, Settings

if TYPE_CHECKING:
    from fieldguide.identification import IdentifyOptions

LOG = logging.getLogger("fieldguide.service")
STATIC = Path(__file__).parent / "static"
#: The environment variable ``fieldguide serve --workers N`` passes its options in (JSON).
ENVIRONMENT = "FIELDGUIDE_SERVE"


def _message(exc: RequestValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e['msg']}"
                     for e in exc.errors())


def log_to_stderr() -> None:
    """Send the one JSON line per request to stderr (``fieldguide serve`` does this; a host
    application embedding ``create_app`` configures logging its own way). Once per logger:
    a second app in the same process does not print every line twice."""
    if any(getattr(h, "fieldguide", False) for h in LOG.handlers):
        return
    handler = logging.StreamHandler()
    handler.fieldguide = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)


def environment_json(model: Path, index: Path | None, settings: Settings,
                     options: IdentifyOptions, study: Path | None = None,
                     reviewers: Path | None = None, review_manifest: Path | None = None,
                     review_identifications: Path | None = None) -> str:
    """What ``from_environment`` reads back: the model, index, batch permissions, every
    option that changes an answer, and the review page's study, reviewers file and queue
    files."""
    return json.dumps({
        "model": str(model), "index": str(index) if index else None,
        "allow_paths": str(settings.allow_paths) if settings.allow_paths else None,
        "allow_hosts": list(settings.allow_hosts), "identify": options.to_json(),
        "study": str(study) if study else None,
        "reviewers": str(reviewers) if reviewers else None,
        "review_manifest": str(review_manifest) if review_manifest else None,
        "review_identifications": str(review_identifications)
        if review_identifications else None})


def from_environment() -> FastAPI:
    """The app ``fieldguide serve --workers N`` starts in each worker process (uvicorn needs
    an import string there); the options travel in ``FIELDGUIDE_SERVE``."""
    import os

    from fieldguide.identification import IdentifyOptions

    log_to_stderr()
    opts = json.loads(os.environ[ENVIRONMENT])
    allow = opts.get("allow_paths")
    options = IdentifyOptions.from_json(opts.get("identify") or {})
    return create_app(opts["model"], index=opts.get("index"), options=options,
                      settings=Settings(allow_paths=Path(allow) if allow else None,
                                        allow_hosts=tuple(opts.get("allow_hosts") or ())),
                      study=opts.get("study"), reviewers=opts.get("reviewers"),
                      review_manifest=opts.get("review_manifest"),
                      review_identifications=opts.get("review_identifications"))


class Observe:
    """One JSON log line and the metrics per request, as a plain ASGI middleware: Starlette's
    ``@app.middleware("http")`` ran every request through a task group and memory streams,
    the largest piece of the event loop's time per request after FastAPI's own parsing."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app, self.metrics = app, service.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = getattr(scope.get("route"), "path", "other")
            latency = time.perf_counter() - start
            state = scope.get("state") or {}  # what a route put in request.state
            self.metrics.observe(path, status, latency)
            LOG.info(json.dumps({"route": path, "method": scope["method"], "status": status,
                                 "ms": round(latency * 1000, 1), "images": state.get("images"),
                                 "rejected": state.get("rejected")}))


def create_app(model: str | Path, prior: str | Path | None = None,
               index: str | Path | None = None, settings: Settings | None = None,
               options: IdentifyOptions | None = None, study: str | Path | None = None,
               reviewers: str | Path | None = None,
               review_manifest: str | Path | None = None,
               review_identifications: str | Path | None = None) -> FastAPI:
    """Load the model (and its priors, rejection, the index) once and serve it; ``options``
    are ``identify``'s (rule, priors, geofence, no_reject), ``prior`` a shorthand for
    ``options.prior``; ``study`` and ``reviewers`` (both or neither) turn the review page
    on, ``review_manifest`` (a dataset manifest with flagged rows) and
    ``review_identifications`` (an ``identify`` output) add its queues. Tests run this
    in-process."""
    from fieldguide.identification import IdentifyOptions
    from fieldguide.service.review import open_desk

    # a bad reviewers or queue file fails before the model loads
    desk = open_desk(study, reviewers, review_manifest, review_identifications)

    options = options or IdentifyOptions()
    if prior is not None:
        options = replace(options, prior=Path(prior))
    svc = Service(model, options, index, settings or Settings())
    app = FastAPI(title="fieldguide identification", version=svc.info.version)
    app.state.service = svc
    app.state.reviews = desk

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _message(exc)}, status_code=422)

    app.add_middleware(Observe, service=svc)
    app.include_router(routes)
    app.include_router(search_routes)
    app.include_router(page_routes)
    app.include_router(review_routes)
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="page")
    return app

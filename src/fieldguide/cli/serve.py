"""``fieldguide serve``: the identification service on uvicorn (docs/service.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fieldguide.cli.common import guarded


def serve(
    model: Annotated[Path, typer.Argument(help="A model folder (model.json + model.onnx).")],
    prior: Annotated[Path | None, typer.Option(
        help="A place-and-season prior (fieldguide prior build).")] = None,
    index: Annotated[Path | None, typer.Option(
        help="A search index (fieldguide index build): similar photos and candidates.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    allow_paths: Annotated[Path | None, typer.Option(
        help="Let POST /v1/identify/batch read photos inside this folder (off without).")
    ] = None,
    allow_hosts: Annotated[list[str] | None, typer.Option(
        "--allow-hosts", help="Let POST /v1/identify/batch fetch http(s) URLs on this host "
        "(repeat for several; none without).")] = None,
) -> None:
    """Serve identification over HTTP, the model (and prior, index) loaded once."""
    import json
    import os

    import uvicorn

    from fieldguide.service.app import Settings, create_app, log_to_stderr

    if workers == 1:
        log_to_stderr()
        settings = Settings(allow_paths=allow_paths,
                            allow_hosts=tuple(h.lower() for h in allow_hosts or ()))
        app = guarded(lambda: create_app(model, prior, index, settings))
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
        return
    os.environ["FIELDGUIDE_SERVE"] = json.dumps({
        "model": str(model), "prior": str(prior) if prior else None,
        "index": str(index) if index else None,
        "allow_paths": str(allow_paths) if allow_paths else None,
        "allow_hosts": [h.lower() for h in allow_hosts or ()]})
    uvicorn.run("fieldguide.service.app:from_environment", factory=True, host=host, port=port,
                workers=workers, log_level="info", access_log=False)

"""The page, health, the OpenAPI document and Prometheus metrics."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from media_bench.common.contract import Health
from media_bench.server.context import reply
from media_bench.server.openapi import openapi_document
from media_bench.server.refusals import Handler
from media_bench.server.state import ServerState
from spaces_core.errors import Refused

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
PAGE = "index.html"


def page_files(directory: Path = WEB_DIR) -> dict[str, Path]:
    """The files ``/static/{filename}`` serves, by name: only those, never a path built from
    the request (aiohttp's static route answers a missing file or a directory with an empty
    404 or 403)."""
    return {path.name: path for path in directory.iterdir() if path.is_file()}


def handlers(state: ServerState) -> dict[str, Handler]:
    document = openapi_document(state.settings)
    files = page_files()

    async def page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(files[PAGE])

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["filename"]
        found = files.get(name)
        if found is None:
            raise Refused(404, f"no such file {name!r}")
        return web.FileResponse(found)

    async def healthz(request: web.Request) -> web.StreamResponse:
        return reply(Health(ok=True, rooms=len(state.rooms)))

    async def openapi(request: web.Request) -> web.StreamResponse:
        return web.json_response(document)

    async def metrics(request: web.Request) -> web.StreamResponse:
        return web.Response(body=state.metrics.render(), content_type="text/plain", charset="utf-8")

    return {
        "page": page,
        "static": static,
        "healthz": healthz,
        "openapi": openapi,
        "metrics": metrics,
    }

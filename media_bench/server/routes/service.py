"""The page, health, the OpenAPI document and Prometheus metrics."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from media_bench.common.contract import Health
from media_bench.server.context import reply
from media_bench.server.openapi import openapi_document
from media_bench.server.refusals import Handler
from media_bench.server.state import ServerState

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def handlers(state: ServerState) -> dict[str, Handler]:
    document = openapi_document(state.settings)

    async def page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(WEB_DIR / "index.html")

    async def healthz(request: web.Request) -> web.StreamResponse:
        return reply(Health(ok=True, rooms=len(state.rooms)))

    async def openapi(request: web.Request) -> web.StreamResponse:
        return web.json_response(document)

    async def metrics(request: web.Request) -> web.StreamResponse:
        return web.Response(body=state.metrics.render(), content_type="text/plain", charset="utf-8")

    return {"page": page, "healthz": healthz, "openapi": openapi, "metrics": metrics}

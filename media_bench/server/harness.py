"""Run a server on an ephemeral loopback port inside the current loop (tests, benchmarks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from media_bench.server.app import SpacesServer
from media_bench.server.settings import Settings
from media_bench.server.users import UserDirectory


@dataclass
class Running:
    server: SpacesServer
    url: str


@asynccontextmanager
async def running_server(
    settings: Settings | None = None,
    users: UserDirectory | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[Running]:
    """Serve on ``host`` (port 0: any free port) until the block exits."""
    server = SpacesServer(settings, users)
    runner = web.AppRunner(server.app(), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    url = f"http://{host}:{bound}"
    try:
        await server.announce(server.settings.public_url or url)
        yield Running(server, url)
    finally:
        await runner.cleanup()

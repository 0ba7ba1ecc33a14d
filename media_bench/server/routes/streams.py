"""The room's and the lobby's server-sent event streams (through aiohttp-sse)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from aiohttp import web
from aiohttp_sse import sse_response

from media_bench.server.broadcast import Event
from media_bench.server.context import caller_of, room_of
from media_bench.server.refusals import Handler
from media_bench.server.settings import Settings
from media_bench.server.state import ServerState

HEARTBEAT = 15.0
"""Seconds between keep-alive comments on an idle stream."""


async def stream_events(
    request: web.Request,
    queue: asyncio.Queue[Event],
    on_stalled: Callable[[], None] | None = None,
    stalled_after: float = Settings().event_stall_timeout,
) -> web.StreamResponse:
    """Send ``queue``'s events until a ``closed`` event or the client goes away (or stops
    reading for ``stalled_after`` seconds)."""
    async with sse_response(request, sep="\n", ping_interval=HEARTBEAT) as stream:
        with contextlib.suppress(ConnectionResetError):
            await stream.write(b": connected\n\n")
            while stream.is_connected():  # the pings notice a client that went away
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT)
                except TimeoutError:
                    continue
                try:
                    await asyncio.wait_for(stream.send(json.dumps(event)), stalled_after)
                except TimeoutError:
                    if on_stalled is not None:
                        on_stalled()
                    if request.transport is not None:
                        request.transport.abort()
                    break
                if event.get("type") == "closed":
                    break
    return stream


def handlers(state: ServerState) -> dict[str, Handler]:
    async def room_events(request: web.Request) -> web.StreamResponse:
        room = room_of(request).room
        key, queue = room.subscribe(caller_of(request))
        try:
            stalled = state.metrics.drops.labels("event_stalled").inc
            return await stream_events(request, queue, stalled, state.settings.event_stall_timeout)
        finally:
            room.unsubscribe(key)

    async def lobby_events(request: web.Request) -> web.StreamResponse:
        queue = state.lobby.watch()
        try:
            return await stream_events(request, queue)
        finally:
            state.lobby.unwatch(queue)

    return {"room_events": room_events, "lobby_events": lobby_events}

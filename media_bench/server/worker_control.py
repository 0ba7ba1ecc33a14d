"""A media worker's control side: its ``MediaHost`` behind the control link, and its metrics.

Each call runs in its own task (an offer waits for ICE gathering; nothing else should wait
for it); the API process awaits a call's reply before it makes the next call of the same
room, so a room's calls apply in order. Notices of a room go to the link that opened it, and
a link that breaks (its API process died) closes the rooms it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from media_bench.server.metrics import Metrics
from media_bench.server.peers import DropReason
from media_bench.server.worker_protocol import (
    CONTROL_PATH,
    METHODS,
    METRICS_PATH,
    ROOM_OPENERS,
    MediaCarrier,
    drop_notice,
    error_message,
    levels_notice,
    result_message,
)
from spaces_core.errors import Refused

log = logging.getLogger(__name__)


class ControlLinks:
    """The open control links and which of them opened each room."""

    def __init__(self) -> None:
        self.owner: dict[str, web.WebSocketResponse] = {}
        self._sends: set[asyncio.Task[None]] = set()

    def levels(self, room_id: str, levels: dict[str, float]) -> None:
        self._notify(room_id, levels_notice(room_id, levels))

    def drop(self, room_id: str, user_id: str, reason: DropReason) -> None:
        self._notify(room_id, drop_notice(room_id, user_id, reason))

    def _notify(self, room_id: str, text: str) -> None:
        link = self.owner.get(room_id)
        if link is None or link.closed:
            return
        task = asyncio.ensure_future(self._send(link, text))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    @staticmethod
    async def _send(link: web.WebSocketResponse, text: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await link.send_str(text)

    def rooms_of(self, link: web.WebSocketResponse) -> list[str]:
        return [room for room, owner in self.owner.items() if owner is link]


def control_app(host: MediaCarrier, links: ControlLinks, metrics: Metrics) -> web.Application:
    """The worker's HTTP side: the control WebSocket and ``/metrics``."""

    async def control(request: web.Request) -> web.WebSocketResponse:
        link = web.WebSocketResponse(heartbeat=10.0, max_msg_size=0)
        await link.prepare(request)
        calls: set[asyncio.Task[None]] = set()
        try:
            async for message in link:
                if message.type is not WSMsgType.TEXT:
                    break
                task = asyncio.ensure_future(_answer(host, links, link, json.loads(message.data)))
                calls.add(task)
                task.add_done_callback(calls.discard)
        finally:
            for task in calls:
                task.cancel()
            for room_id in links.rooms_of(link):
                del links.owner[room_id]
                with contextlib.suppress(Refused):
                    await host.close_room(room_id)
        return link

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), content_type="text/plain")

    app = web.Application()
    app.router.add_get(CONTROL_PATH, control)
    app.router.add_get(METRICS_PATH, metrics_page)
    return app


async def _answer(
    host: MediaCarrier, links: ControlLinks, link: web.WebSocketResponse, call: dict[str, Any]
) -> None:
    call_id, method, args = call.get("id"), call.get("method"), call.get("args")
    if not isinstance(call_id, int) or method not in METHODS or not isinstance(args, dict):
        log.warning("bad control call %r", call)
        return
    if method in ROOM_OPENERS:
        links.owner[args["room_id"]] = link
    try:
        result = await getattr(host, str(method))(**args)
        reply = result_message(call_id, result)
        failed = False
    except Refused as refused:
        reply, failed = error_message(call_id, refused.status, refused.reason), True
    except Exception as error:  # the worker keeps serving; the caller gets a 503
        log.exception("control call %s failed", method)
        reply = error_message(call_id, 500, f"{method}: {type(error).__name__}: {error}")
        failed = True
    if method == "close_room" or (failed and method in ROOM_OPENERS):
        links.owner.pop(args["room_id"], None)
    if not link.closed:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await link.send_str(reply)

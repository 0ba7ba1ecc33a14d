"""``RemoteMediaHost``: a media worker's ``MediaCarrier`` methods, called over its control link."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from media_bench.server.peers import DropReason
from media_bench.server.worker_protocol import (
    CONTROL_PATH,
    WorkerFailed,
    call_message,
    refusal_of,
)

log = logging.getLogger(__name__)

CALL_TIMEOUT = 30.0
"""Seconds a call may take (an offer's answer waits for ICE candidate gathering)."""


class RemoteMediaHost:
    """One worker, seen from an API process: calls wait for their reply; the worker's notices
    (levels, drops of the rooms this process opened there) go to the callbacks."""

    def __init__(
        self,
        control_url: str,
        on_levels: Callable[[str, dict[str, float]], None] | None = None,
        on_drop: Callable[[str, str, DropReason], None] | None = None,
        on_lost: Callable[[RemoteMediaHost], None] | None = None,
    ) -> None:
        self.control_url = control_url
        self.on_levels = on_levels
        self.on_drop = on_drop
        self.on_lost = on_lost
        """Told once when the link breaks (the worker died or closed it)."""
        self._session: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        try:
            self._socket = await self._session.ws_connect(
                self.control_url.rstrip("/") + CONTROL_PATH, heartbeat=10.0, max_msg_size=0
            )
        except (aiohttp.ClientError, OSError) as error:
            await self._session.close()
            raise WorkerFailed(f"cannot reach {self.control_url}: {error}") from error
        self._reader = asyncio.ensure_future(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._socket is not None:
            await self._socket.close()
        if self._session is not None:
            await self._session.close()
        self._fail_pending("link closed")

    async def call(self, method: str, **args: Any) -> Any:
        socket = self._socket
        if socket is None or socket.closed:
            raise WorkerFailed(f"no link to {self.control_url}")
        call_id = next(self._ids)
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = reply
        try:
            await socket.send_str(call_message(call_id, method, args))
            return await asyncio.wait_for(reply, CALL_TIMEOUT)
        except (ConnectionError, aiohttp.ClientError) as error:
            raise WorkerFailed(f"{method} to {self.control_url}: {error}") from error
        except TimeoutError:
            raise WorkerFailed(
                f"{method} to {self.control_url}: no reply in {CALL_TIMEOUT:g} s"
            ) from None
        finally:
            self._pending.pop(call_id, None)

    async def _read(self) -> None:
        assert self._socket is not None
        try:
            async for message in self._socket:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                self._dispatch(json.loads(message.data))
        finally:
            self._fail_pending("link lost")
            if self.on_lost is not None:
                self.on_lost(self)

    def _dispatch(self, message: dict[str, Any]) -> None:
        notice = message.get("notice")
        if notice == "levels":
            if self.on_levels is not None:
                self.on_levels(message["room"], message["levels"])
            return
        if notice == "drop":
            if self.on_drop is not None:
                self.on_drop(message["room"], message["user"], message["reason"])
            return
        reply = self._pending.get(message["id"])
        if reply is None or reply.done():
            return
        if "error" in message:
            reply.set_exception(refusal_of(message["error"]))
        else:
            reply.set_result(message.get("result"))

    def _fail_pending(self, why: str) -> None:
        for reply in self._pending.values():
            if not reply.done():
                reply.set_exception(WorkerFailed(f"{why} ({self.control_url})"))
        self._pending.clear()

    # -- MediaCarrier ----------------------------------------------------------------------
    async def open_origin(self, room_id: str) -> None:
        await self.call("open_origin", room_id=room_id)

    async def open_edge(self, room_id: str, origin: Sequence[Any]) -> None:
        await self.call("open_edge", room_id=room_id, origin=list(origin))

    async def add_edge(self, room_id: str, edge: Sequence[Any]) -> None:
        await self.call("add_edge", room_id=room_id, edge=list(edge))

    async def remove_edge(self, room_id: str, edge: Sequence[Any]) -> None:
        await self.call("remove_edge", room_id=room_id, edge=list(edge))

    async def connect(self, room_id: str, user_id: str, offer_sdp: str) -> str:
        answer = await self.call("connect", room_id=room_id, user_id=user_id, offer_sdp=offer_sdp)
        return str(answer)

    async def commit(self, room_id: str, user_id: str) -> None:
        await self.call("commit", room_id=room_id, user_id=user_id)

    async def discard(self, room_id: str, user_id: str) -> None:
        await self.call("discard", room_id=room_id, user_id=user_id)

    async def sync(
        self,
        room_id: str,
        members: list[str],
        speakers: list[str],
        mixed: list[str],
        remote: dict[str, Sequence[Any]],
    ) -> None:
        await self.call(
            "sync",
            room_id=room_id,
            members=members,
            speakers=speakers,
            mixed=mixed,
            remote={user: list(address) for user, address in remote.items()},
        )

    async def disconnect(self, room_id: str, user_id: str) -> None:
        await self.call("disconnect", room_id=room_id, user_id=user_id)

    async def close_room(self, room_id: str) -> None:
        await self.call("close_room", room_id=room_id)

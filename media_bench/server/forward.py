"""Requests about a room another node serves, passed on to that node's API and answered from it.

A room's rules live in one API process, on the node that created it (the directory says which).
Any node takes any request: one about a room served elsewhere is forwarded there with the
caller's headers, and the answer (an event stream too) is streamed back as it comes. The
forwarded request names the node it entered by, so a join can be placed on that node's
workers (the SDP answer then comes from the node that will carry the listener). A forwarded
request is never forwarded again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
from aiohttp import web
from pydantic import ValidationError

from media_bench.common.contract import RoomList, RoomState
from media_bench.server.live import LiveRoom
from media_bench.server.store.database import Database
from spaces_core.errors import Refused

ENTRY_NODE_HEADER = "X-Spaces-Entry-Node"
"""The node a forwarded request entered the fleet by."""
FORWARDED_HEADER = "X-Spaces-Forwarded"
PASSED_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "Accept")
FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5.0, sock_read=None)
LIST_TIMEOUT = aiohttp.ClientTimeout(total=2.0)
"""How long a room list waits for another node's rooms: one that has not answered by then (it
is stuck, or dying and about to be marked lost) is left out of this answer."""

log = logging.getLogger(__name__)


def entry_node(request: web.Request, own_node: str) -> str:
    """The node whose workers a join should prefer: where it entered the fleet."""
    return request.headers.get(ENTRY_NODE_HEADER, own_node)


def was_forwarded(request: web.Request) -> bool:
    return FORWARDED_HEADER in request.headers


class Forwarder:
    """One HTTP client session for every request this node forwards."""

    def __init__(self, own_node: str) -> None:
        self.own_node = own_node
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def headers_for(self, request: web.Request) -> dict[str, str]:
        """What a request passed on to another node carries: the caller's headers, where it
        entered, and that it was forwarded."""
        headers = {
            name: request.headers[name] for name in PASSED_HEADERS if name in request.headers
        }
        headers[ENTRY_NODE_HEADER] = entry_node(request, self.own_node)
        headers[FORWARDED_HEADER] = self.own_node
        return headers

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=FORWARD_TIMEOUT, auto_decompress=False)
        return self._session

    async def forward(self, request: web.Request, api_url: str) -> web.StreamResponse:
        """``request`` as ``api_url`` answers it; a 502 with a JSON reason if it cannot."""
        if was_forwarded(request):
            raise Refused(409, "this room is served by another node, which did not take it")
        headers = self.headers_for(request)
        body = await request.read()
        answer: web.StreamResponse | None = None
        try:
            async with self.session().request(
                request.method,
                api_url.rstrip("/") + request.rel_url.path_qs,
                headers=headers,
                data=body or None,
                allow_redirects=False,
            ) as upstream:
                answer = web.StreamResponse(status=upstream.status)
                for name in ("Content-Type", "Cache-Control", "Retry-After"):
                    if name in upstream.headers:
                        answer.headers[name] = upstream.headers[name]
                await answer.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await answer.write(chunk)
                await answer.write_eof()
                return answer
        except (aiohttp.ClientError, OSError) as error:
            if answer is not None and answer.prepared:  # a stream that broke mid-way ends
                return answer
            raise Refused(502, f"the node serving this room did not answer: {error}") from error


class ElsewhereRooms:
    """The router's hook: a request about a live room this node does not serve is answered by
    the node that does (the directory's room origin); None: this node answers it."""

    def __init__(self, forwarder: Forwarder, database: Database) -> None:
        self.forwarder = forwarder
        self.database = database

    async def __call__(self, request: web.Request, live: LiveRoom) -> web.StreamResponse | None:
        if live.media is not None or not live.room.live or was_forwarded(request):
            return None
        directory = self.database.directory
        origin = await self.database.call(directory.room_origin, live.id)
        if origin is None or origin.worker.node_id == directory.node_id:
            return None
        return await self.forwarder.forward(request, origin.api_url)


class OtherNodesRooms:
    """The live rooms the other ``up`` nodes serve (as of this node's last heartbeat), each
    node asked for its own (the caller's token passed on); [] for a request that was itself
    forwarded, so no list goes round."""

    def __init__(self, forwarder: Forwarder, other_api_urls: Callable[[], list[str]]) -> None:
        self.forwarder = forwarder
        self.other_api_urls = other_api_urls

    async def __call__(self, request: web.Request) -> list[RoomState]:
        if was_forwarded(request):
            return []
        urls = self.other_api_urls()
        lists = await asyncio.gather(*(self._rooms_of(request, url) for url in urls))
        return [room for rooms in lists for room in rooms]

    async def _rooms_of(self, request: web.Request, api_url: str) -> list[RoomState]:
        forwarder = self.forwarder
        try:
            async with forwarder.session().get(
                api_url.rstrip("/") + request.rel_url.path,
                headers=forwarder.headers_for(request),
                timeout=LIST_TIMEOUT,
            ) as upstream:
                if upstream.status != 200:
                    log.warning("node %s answered the room list with %s", api_url,
                                upstream.status)
                    return []
                return RoomList.model_validate_json(await upstream.read()).rooms
        except (aiohttp.ClientError, OSError, TimeoutError, ValidationError) as error:
            log.warning("node %s did not list its rooms: %s", api_url, error)
            return []

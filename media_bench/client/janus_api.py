"""A small asyncio client for Janus's HTTP API: a session, plugin handles, long-poll events.

One ``JanusSession`` carries many handles (a load generator's hundreds of listeners share
one long poll). A plugin request Janus answers at once (``create``, ``rtp_forward``) is
``JanusHandle.request``; one it answers later with an event, possibly carrying JSEP (a join,
a watch, a start) is ``JanusHandle.message``, which waits for the event of its transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import aiohttp

from spaces_core.errors import SpacesLabError

EVENTS_PER_POLL = 20
EVENT_TIMEOUT = 20.0


class JanusError(SpacesLabError):
    """Janus, or one of its plugins, refused a request."""


def _plugin_error(plugin: str, data: dict[str, Any]) -> str | None:
    if "error" in data:
        return f"{plugin}: {data.get('error_code', '')} {data['error']}".strip()
    return None


class JanusSession:
    """``async with JanusSession(url) as janus:`` one Janus session and its event poll."""

    def __init__(self, url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = session
        self._owns_http = session is None
        self.id: int | None = None
        self._transactions = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._poll: asyncio.Task[None] | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=60),
            )
        return self._http

    async def __aenter__(self) -> JanusSession:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def new_transaction(self) -> str:
        return str(next(self._transactions))

    async def post(
        self, path: str, body: dict[str, Any], transaction: str | None = None
    ) -> dict[str, Any]:
        """One request to Janus's core; its immediate answer (``success`` or ``ack``)."""
        body = {**body, "transaction": transaction or self.new_transaction()}
        async with self.http.post(self.url + path, json=body) as response:
            answer = await response.json(content_type=None)
            if not isinstance(answer, dict):
                raise JanusError(f"{body['janus']}: HTTP {response.status}, no JSON answer")
        if answer.get("janus") == "error":
            error = answer.get("error", {})
            raise JanusError(f"{body['janus']}: {error.get('code')} {error.get('reason')}")
        return answer

    async def open(self) -> None:
        answer = await self.post("", {"janus": "create"})
        self.id = int(answer["data"]["id"])
        self._poll = asyncio.ensure_future(self._poll_events())

    async def attach(self, plugin: str) -> JanusHandle:
        answer = await self.post(f"/{self.id}", {"janus": "attach", "plugin": plugin})
        return JanusHandle(self, plugin, int(answer["data"]["id"]))

    def expect(self, transaction: str) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        return future

    def forget(self, transaction: str) -> None:
        self._waiting.pop(transaction, None)

    async def _poll_events(self) -> None:
        """Long-poll the session's events and hand each plugin event to the request that
        waits for its transaction (the poll also keeps the session alive)."""
        url = f"{self.url}/{self.id}?maxev={EVENTS_PER_POLL}"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=45)
        while True:
            try:
                async with self.http.get(url, timeout=timeout) as response:
                    answer = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.2)
                continue
            for event in answer if isinstance(answer, list) else [answer]:
                waiting = self._waiting.pop(str(event.get("transaction")), None)
                if event.get("janus") == "event" and waiting is not None and not waiting.done():
                    waiting.set_result(event)

    async def close(self) -> None:
        """Destroy the session (and with it its handles) and stop polling."""
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll
            self._poll = None
        if self.id is not None:
            with contextlib.suppress(aiohttp.ClientError, JanusError, TimeoutError):
                await self.post(f"/{self.id}", {"janus": "destroy"})
            self.id = None
        if self._http is not None and self._owns_http:
            await self._http.close()
        self._http = None


class JanusHandle:
    """One plugin handle of a session."""

    def __init__(self, session: JanusSession, plugin: str, handle_id: int) -> None:
        self.session = session
        self.plugin = plugin
        self.id = handle_id

    @property
    def path(self) -> str:
        return f"/{self.session.id}/{self.id}"

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """A plugin request answered at once; the plugin's data."""
        answer = await self.session.post(self.path, {"janus": "message", "body": body})
        data: dict[str, Any] = answer.get("plugindata", {}).get("data", {})
        error = _plugin_error(self.plugin, data)
        if error is not None or answer.get("janus") != "success":
            raise JanusError(error or f"{self.plugin}: {body.get('request')}: {answer}")
        return data

    async def message(
        self, body: dict[str, Any], jsep: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], dict[str, str] | None]:
        """A plugin request answered by an event; the event's plugin data and JSEP."""
        message: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        transaction = self.session.new_transaction()
        waiting = self.session.expect(transaction)
        try:
            answer = await self.session.post(self.path, message, transaction)
            if answer.get("janus") == "success":  # answered at once after all
                data = answer.get("plugindata", {}).get("data", {})
                event: dict[str, Any] = {"plugindata": {"data": data}, "jsep": answer.get("jsep")}
            else:
                event = await asyncio.wait_for(waiting, EVENT_TIMEOUT)
        finally:
            self.session.forget(transaction)
        data = event.get("plugindata", {}).get("data", {})
        error = _plugin_error(self.plugin, data)
        if error is not None:
            raise JanusError(error)
        return data, event.get("jsep")

    async def detach(self) -> None:
        with contextlib.suppress(aiohttp.ClientError, JanusError, TimeoutError):
            await self.session.post(self.path, {"janus": "detach"})

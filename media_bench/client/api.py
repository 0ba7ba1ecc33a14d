"""A small asyncio client for the control API, shared by the bots, tests and load tests."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from spaces_core.errors import Refused


class ApiClient:
    """JSON calls against one server; use as ``async with ApiClient(url) as api``."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=30),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def call(self, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        """One request; returns the JSON answer or raises ``Refused``."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, self.base_url + path, json=body, headers=headers
        ) as response:
            payload = await response.json(content_type=None)
            if response.status >= 400:
                reason = payload.get("error", "") if isinstance(payload, dict) else str(payload)
                raise Refused(response.status, reason)
            return payload

    async def token(self, user_id: str) -> str:
        answer = await self.call("POST", "/auth/token", body={"user": user_id})
        return str(answer["token"])

    async def create_room(
        self, token: str, title: str = "", ticket: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"title": title}
        if ticket is not None:
            body["ticket"] = ticket
        room: dict[str, Any] = await self.call("POST", "/rooms", token, body)
        return room

    async def room(self, token: str, room_id: str) -> dict[str, Any]:
        state: dict[str, Any] = await self.call("GET", f"/rooms/{room_id}", token)
        return state

    async def join(self, token: str, room_id: str, offer_sdp: str) -> dict[str, Any]:
        body = {"type": "offer", "sdp": offer_sdp}
        answer: dict[str, Any] = await self.call("POST", f"/rooms/{room_id}/join", token, body)
        return answer

    async def act(self, token: str, room_id: str, user_id: str, action: str) -> dict[str, Any]:
        path = f"/rooms/{room_id}/participants/{user_id}/{action}"
        state: dict[str, Any] = await self.call("POST", path, token)
        return state

    async def buy_ticket(self, token: str, room_id: str) -> dict[str, Any]:
        sold: dict[str, Any] = await self.call("POST", f"/rooms/{room_id}/tickets", token)
        return sold

    async def leave(self, token: str, room_id: str) -> None:
        await self.call("POST", f"/rooms/{room_id}/leave", token)

    async def end_room(self, token: str, room_id: str) -> None:
        await self.call("POST", f"/rooms/{room_id}/end", token)

    async def events(self, token: str, room_id: str) -> AsyncGenerator[dict[str, Any]]:
        """The room's server-sent events, until the server closes the stream."""
        async for event in self._stream(f"/rooms/{room_id}/events", token):
            yield event

    async def lobby(self, token: str) -> AsyncGenerator[dict[str, Any]]:
        """The Spaces bar's feed: a ``rooms`` snapshot now and at every change."""
        async for event in self._stream("/events", token):
            yield event

    async def _stream(self, path: str, token: str) -> AsyncGenerator[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
        async with self.session.get(self.base_url + path, headers=headers, timeout=timeout) as r:
            if r.status >= 400:
                payload = await r.json(content_type=None)
                raise Refused(r.status, str(payload.get("error", "")))
            async for line in r.content:
                if line.startswith(b"data: "):
                    event: dict[str, Any] = json.loads(line[6:])
                    yield event

    async def metrics_text(self) -> str:
        async with self.session.get(self.base_url + "/metrics") as response:
            return await response.text()

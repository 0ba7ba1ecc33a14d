"""A small asyncio client for the control API, shared by the bots, tests and load tests.

Its typed calls follow the contract (``media_bench.common.contract``): paths come from the
route table and answers are parsed into the declared reply models.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, TypeVar

import aiohttp

from media_bench.client.sse import sse_json
from media_bench.common.contract import (
    IDEMPOTENCY_HEADER,
    Body,
    Health,
    JoinAnswer,
    JoinOffer,
    Message,
    MessageList,
    MessageText,
    ParticipantList,
    Reply,
    RoomCreate,
    RoomList,
    RoomRevenue,
    RoomState,
    TicketSold,
    TicketTerms,
    TokenIssued,
    TokenRequest,
    UserList,
    UserView,
    route,
)
from spaces_core.errors import Refused

R = TypeVar("R", bound=Reply)


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

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One request; returns the JSON answer or raises ``Refused``."""
        headers = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        async with self.session.request(
            method, self.base_url + path, json=body, headers=headers
        ) as response:
            payload = await response.json(content_type=None)
            if response.status >= 400:
                reason = payload.get("error", "") if isinstance(payload, dict) else str(payload)
                raise Refused(response.status, reason)
            return payload

    async def _typed(
        self,
        operation: str,
        reply: type[R],
        token: str | None = None,
        body: Body | None = None,
        query: str = "",
        headers: dict[str, str] | None = None,
        **path: str,
    ) -> R:
        """The operation's route called, its answer parsed as ``reply``."""
        declared = route(operation)
        json_body = None if body is None else body.model_dump(mode="json", exclude_none=True)
        url = declared.url(**path) + query
        answer = await self.call(declared.method, url, token, json_body, headers)
        return reply.model_validate(answer)

    # -- service and users -----------------------------------------------------------------
    async def healthz(self) -> Health:
        return await self._typed("healthz", Health)

    async def token(self, user_id: str) -> str:
        issued = await self._typed("issue_token", TokenIssued, body=TokenRequest(user=user_id))
        return issued.token

    async def user(self, user_id: str) -> UserView:
        return await self._typed("get_user", UserView, user_id=user_id)

    async def users(
        self, min_followers: int = 0, limit: int = 100, can_host: bool | None = None
    ) -> UserList:
        query = f"?min_followers={min_followers}&limit={limit}"
        if can_host is not None:
            query += f"&can_host={str(can_host).lower()}"
        return await self._typed("list_users", UserList, query=query)

    # -- rooms -----------------------------------------------------------------------------
    async def rooms(self, token: str) -> RoomList:
        return await self._typed("list_rooms", RoomList, token)

    async def create_room(
        self, token: str, title: str = "", ticket: TicketTerms | None = None
    ) -> RoomState:
        body = RoomCreate(title=title, ticket=ticket)
        return await self._typed("create_room", RoomState, token, body)

    async def room(self, token: str, room_id: str) -> RoomState:
        return await self._typed("get_room", RoomState, token, room_id=room_id)

    async def participants(self, token: str, room_id: str, limit: int = 200) -> ParticipantList:
        return await self._typed(
            "list_participants", ParticipantList, token, query=f"?limit={limit}", room_id=room_id
        )

    async def end_room(self, token: str, room_id: str) -> RoomState:
        return await self._typed("end_room", RoomState, token, room_id=room_id)

    async def buy_ticket(
        self, token: str, room_id: str, idempotency_key: str | None = None
    ) -> TicketSold:
        """Buy a ticket; with ``idempotency_key``, a retry of the same purchase is safe."""
        headers = None if idempotency_key is None else {IDEMPOTENCY_HEADER: idempotency_key}
        return await self._typed("buy_ticket", TicketSold, token, headers=headers, room_id=room_id)

    async def revenue(self, token: str, room_id: str) -> RoomRevenue:
        return await self._typed("room_revenue", RoomRevenue, token, room_id=room_id)

    # -- membership ------------------------------------------------------------------------
    async def join(self, token: str, room_id: str, offer_sdp: str) -> JoinAnswer:
        offer = JoinOffer(type="offer", sdp=offer_sdp)
        return await self._typed("join", JoinAnswer, token, offer, room_id=room_id)

    async def leave(self, token: str, room_id: str) -> RoomState:
        return await self._typed("leave", RoomState, token, room_id=room_id)

    async def request_to_speak(self, token: str, room_id: str) -> RoomState:
        return await self._typed("request_to_speak", RoomState, token, room_id=room_id)

    async def accept_invite(self, token: str, room_id: str) -> RoomState:
        return await self._typed("accept_invite", RoomState, token, room_id=room_id)

    async def act(self, token: str, room_id: str, user_id: str, action: str) -> RoomState:
        return await self._typed(
            "act", RoomState, token, room_id=room_id, user_id=user_id, action=action
        )

    async def send_message(self, token: str, room_id: str, text: str) -> Message:
        body = MessageText(text=text)
        return await self._typed("send_message", Message, token, body, room_id=room_id)

    async def messages(self, token: str, room_id: str) -> MessageList:
        return await self._typed("read_messages", MessageList, token, room_id=room_id)

    # -- event streams ---------------------------------------------------------------------
    async def events(self, token: str, room_id: str) -> AsyncGenerator[dict[str, Any]]:
        """The room's server-sent events, until the server closes the stream."""
        async for event in self._stream(route("room_events").url(room_id=room_id), token):
            yield event

    async def lobby(self, token: str) -> AsyncGenerator[dict[str, Any]]:
        """The Spaces bar's feed: a ``rooms`` snapshot now and at every change."""
        async for event in self._stream(route("lobby_events").url(), token):
            yield event

    async def _stream(self, path: str, token: str) -> AsyncGenerator[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
        async with self.session.get(self.base_url + path, headers=headers, timeout=timeout) as r:
            if r.status >= 400:
                payload = await r.json(content_type=None)
                raise Refused(r.status, str(payload.get("error", "")))
            async for event in sse_json(r.content):
                yield event

    async def metrics_text(self) -> str:
        async with self.session.get(self.base_url + route("metrics").url()) as response:
            return await response.text()

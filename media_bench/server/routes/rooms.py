"""Rooms as a resource: list, create, read, end, participants, tickets, revenue."""

from __future__ import annotations

import time

from aiohttp import web

from media_bench.common.contract import (
    IDEMPOTENCY_HEADER,
    MAX_IDEMPOTENCY_KEY,
    ParticipantList,
    ParticipantsQuery,
    RoomCreate,
    RoomList,
    RoomRevenue,
    RoomState,
    TicketSold,
)
from media_bench.server.context import body_of, caller_of, query_of, reply, room_of
from media_bench.server.hosting import require_may_host
from media_bench.server.live import open_room
from media_bench.server.refusals import Handler
from media_bench.server.rooms import Role, Room, Ticketing
from media_bench.server.state import ServerState
from media_bench.server.store.ledger import ENDED_BY_HOST
from spaces_core.errors import Refused


def room_state(room: Room) -> RoomState:
    """The room's rules' state, and what the ledger adds: refunds and why it ended."""
    state = room.state()
    if state["ticket"] is not None:
        state["ticket"]["refunded"] = room.refunded
    return RoomState.model_validate({**state, "ended_reason": room.ended_reason})


def idempotency_key(request: web.Request) -> str | None:
    """The request's ``Idempotency-Key``, or None; 400 when it is empty or too long."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise Refused(
            400, f"header {IDEMPOTENCY_HEADER}: 1..{MAX_IDEMPOTENCY_KEY} printable characters"
        )
    return key


def handlers(state: ServerState) -> dict[str, Handler]:
    settings = state.settings
    ledger = state.ledger

    async def list_rooms(request: web.Request) -> web.StreamResponse:
        here = [room_state(room) for room in state.rooms.live()]
        served_here = {room.id for room in here}
        elsewhere = [r for r in await state.other_nodes_rooms(request) if r.id not in served_here]
        return reply(RoomList(rooms=here + elsewhere))

    async def create_room(request: web.Request) -> web.StreamResponse:
        caller = caller_of(request)
        body = body_of(request, RoomCreate)
        user = state.users.get(caller)
        assert user is not None  # the auth middleware checked the token's user exists
        require_may_host(user, body.ticket is not None, settings.host_threshold, state.hosting)
        hosted = state.rooms.hosted_by(caller)
        if hosted is not None:
            raise Refused(409, f"{caller} already hosts live room {hosted.id}; end it first")
        ticketing = None if body.ticket is None else Ticketing(body.ticket.price, body.ticket.cap)
        room_id = await state.database.call(
            ledger.create_room,
            caller,
            body.title,
            None if ticketing is None else ticketing.price,
            None if ticketing is None else ticketing.cap,
            time.time(),
        )
        room = Room(
            caller,
            body.title,
            ticketing,
            room_id=room_id,
        )
        state.hosting.record(caller)
        live = state.rooms[room.id] = await open_room(room, state.fleet, state.metrics)
        assert live.media is not None
        origin = live.media.origin.worker_id
        await state.database.call(state.database.directory.set_origin, room.id, origin)
        room.on_change = state.lobby.changed
        state.lobby.changed()
        return reply(room_state(room), status=201)

    async def get_room(request: web.Request) -> web.StreamResponse:
        return reply(room_state(room_of(request).room))

    async def list_participants(request: web.Request) -> web.StreamResponse:
        room = room_of(request).room
        limit = query_of(request, ParticipantsQuery).limit
        listed = ParticipantList.model_validate(
            {"room": room.id, "participants": room.participants(limit)}
        )
        return reply(listed)

    async def end_room(request: web.Request) -> web.StreamResponse:
        caller, live = caller_of(request), room_of(request)
        live.room.check_end(caller)
        live.require_served_here()
        await live.finish(state.database, ENDED_BY_HOST)
        return reply(room_state(live.room))

    async def buy_ticket(request: web.Request) -> web.StreamResponse:
        """Answered only once the sale is committed; the ledger decides (also for rooms
        another server process serves)."""
        caller, room = caller_of(request), room_of(request).room
        key = idempotency_key(request)
        sale = await state.database.call(ledger.buy_ticket, room.id, caller, key, time.time())
        room.tickets.add(caller)
        if not sale.replayed:
            state.metrics.tickets_sold.inc()
        sold = TicketSold(room=room.id, user=caller, sold=sale.number, cap=sale.cap)
        return reply(sold, status=201)

    async def room_revenue(request: web.Request) -> web.StreamResponse:
        caller, room = caller_of(request), room_of(request).room
        if caller != room.host and room.role_of(caller) is not Role.COHOST:
            raise Refused(403, "only the host and co-hosts see the room's revenue")
        revenue = await state.database.call(ledger.revenue, room.id)
        return reply(RoomRevenue(room=room.id, **vars(revenue)))

    return {
        "list_rooms": list_rooms,
        "create_room": create_room,
        "get_room": get_room,
        "list_participants": list_participants,
        "end_room": end_room,
        "buy_ticket": buy_ticket,
        "room_revenue": room_revenue,
    }

"""Rooms as a resource: list, create, read, end, participants, tickets."""

from __future__ import annotations

from aiohttp import web

from media_bench.common.contract import (
    ParticipantList,
    ParticipantsQuery,
    RoomCreate,
    RoomList,
    RoomState,
    TicketSold,
)
from media_bench.server.context import body_of, caller_of, query_of, reply, room_of
from media_bench.server.live import open_room
from media_bench.server.refusals import Handler
from media_bench.server.rooms import Room, Ticketing
from media_bench.server.state import ServerState
from spaces_core.errors import Refused


def room_state(room: Room) -> RoomState:
    return RoomState.model_validate(room.state())


def handlers(state: ServerState) -> dict[str, Handler]:
    settings = state.settings

    async def list_rooms(request: web.Request) -> web.StreamResponse:
        return reply(RoomList(rooms=[room_state(room) for room in state.rooms.live()]))

    async def create_room(request: web.Request) -> web.StreamResponse:
        caller = caller_of(request)
        body = body_of(request, RoomCreate)
        user = state.users.get(caller)
        assert user is not None  # the auth middleware checked the token's user exists
        if user.followers < settings.host_threshold:
            raise Refused(
                403,
                f"hosting needs {settings.host_threshold} followers; {caller} has {user.followers}",
            )
        hosted = state.rooms.hosted_by(caller)
        if hosted is not None:
            raise Refused(409, f"{caller} already hosts live room {hosted.id}; end it first")
        ticketing = None if body.ticket is None else Ticketing(body.ticket.price, body.ticket.cap)
        room = Room(
            caller,
            body.title,
            ticketing,
            max_speakers=settings.max_speakers,
            max_cohosts=settings.max_cohosts,
        )
        state.rooms[room.id] = open_room(room, settings, state.metrics)
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
        live = room_of(request)
        await live.end(caller_of(request))
        return reply(room_state(live.room))

    async def buy_ticket(request: web.Request) -> web.StreamResponse:
        caller, room = caller_of(request), room_of(request).room
        sold = room.buy_ticket(caller)
        state.metrics.tickets_sold.inc()
        cap = room.ticketing.cap if room.ticketing else 0
        return reply(TicketSold(room=room.id, user=caller, sold=sold, cap=cap), status=201)

    return {
        "list_rooms": list_rooms,
        "create_room": create_room,
        "get_room": get_room,
        "list_participants": list_participants,
        "end_room": end_room,
        "buy_ticket": buy_ticket,
    }

"""What members do in a room: join with WebRTC, leave, speak, host powers, messages."""

from __future__ import annotations

import time

from aiohttp import web

from media_bench.common.contract import (
    ACTIONS,
    JoinAnswer,
    JoinOffer,
    Message,
    MessageList,
    MessageText,
)
from media_bench.server.context import body_of, caller_of, reply, room_of
from media_bench.server.forward import entry_node
from media_bench.server.refusals import Handler
from media_bench.server.rooms import Role, Room
from media_bench.server.routes.rooms import room_state
from media_bench.server.state import ServerState
from spaces_core.errors import Refused


def handlers(state: ServerState) -> dict[str, Handler]:
    ledger = state.ledger

    async def learn_ticket(room: Room, user_id: str) -> None:
        """A ticket sold by another server process on the same database counts here too."""
        unknown = room.ticketing is not None and user_id not in (*room.tickets, room.host)
        if (
            room.live
            and unknown
            and await state.database.call(ledger.holds_ticket, room.id, user_id)
        ):
            room.tickets.add(user_id)

    async def join(request: web.Request) -> web.StreamResponse:
        caller, live = caller_of(request), room_of(request)
        offer = body_of(request, JoinOffer)
        await learn_ticket(live.room, caller)
        role = live.room.check_join(caller)
        media = live.media_or_refuse()
        # SdpError is a 400 refusal; a full fleet a 503
        entry = entry_node(request, state.fleet.node_id)
        answer = await media.connect(caller, offer.sdp, speaks=role.speaks, entry_node=entry)
        # The room may have changed while candidates were gathered: check again.
        try:
            member = live.room.join(caller)
        except Refused:
            await media.discard(caller)
            raise
        await media.commit(caller)
        await live.sync()
        if member.role is Role.HOST and not live.room.started:
            live.room.started = True
            await state.database.call(ledger.mark_started, live.id, time.time())
        return reply(JoinAnswer(type="answer", sdp=answer, role=member.role.value))

    async def leave(request: web.Request) -> web.StreamResponse:
        caller, live = caller_of(request), room_of(request)
        live.room.leave(caller)
        if live.media is not None:
            await live.media.disconnect(caller)
        await live.sync()  # unless the host ended the room meanwhile
        return reply(room_state(live.room))

    async def request_to_speak(request: web.Request) -> web.StreamResponse:
        room = room_of(request).room
        room.request_to_speak(caller_of(request))
        return reply(room_state(room))

    async def accept_invite(request: web.Request) -> web.StreamResponse:
        live = room_of(request)
        live.room.accept_invite(caller_of(request))
        await live.sync()
        return reply(room_state(live.room))

    async def act(request: web.Request) -> web.StreamResponse:
        caller, live = caller_of(request), room_of(request)
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise Refused(404, f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        target = request.match_info["user_id"]
        if state.users.get(target) is None:
            raise Refused(404, f"unknown user {target}")
        live.room.act(caller, action, target)
        await live.sync()
        if action == "remove":
            await state.database.call(ledger.ban, live.id, target, caller, time.time())
        return reply(room_state(live.room))

    async def send_message(request: web.Request) -> web.StreamResponse:
        text = body_of(request, MessageText).text
        room = room_of(request).room
        message = room.send_message(caller_of(request), text)
        await state.database.call(
            ledger.add_message, room.id, message["from"], message["text"], message["at"]
        )
        return reply(Message.model_validate(message), status=201)

    async def read_messages(request: web.Request) -> web.StreamResponse:
        messages = room_of(request).room.read_messages(caller_of(request))
        return reply(MessageList.model_validate({"messages": messages}))

    return {
        "join": join,
        "leave": leave,
        "request_to_speak": request_to_speak,
        "accept_invite": accept_invite,
        "act": act,
        "send_message": send_message,
        "read_messages": read_messages,
    }

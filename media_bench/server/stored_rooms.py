"""Rooms read back from the database: ended ones (after a restart, or long ago) and live ones
another server process on the same database serves."""

from __future__ import annotations

from collections import deque

from media_bench.server.live import LiveRoom
from media_bench.server.rooms import Room, Ticketing
from media_bench.server.settings import Settings
from media_bench.server.store.ledger import RoomRecord


def room_from_record(record: RoomRecord, settings: Settings) -> LiveRoom:
    """A room with no media and no members: its state, tickets, bans and messages as stored."""
    ticketing = (
        None
        if record.price_usd is None or record.cap is None
        else Ticketing(record.price_usd, record.cap)
    )
    room = Room(
        record.host,
        record.title,
        ticketing,
        room_id=record.id,
    )
    room.live = record.live
    room.created = record.created_at
    room.started = record.started_at is not None
    room.ended_reason = record.ended_reason
    room.tickets = set(record.ticket_holders)
    room.refunded = record.refunded
    room.banned = set(record.banned)
    room.messages = deque(record.messages, maxlen=room.messages.maxlen)
    if not room.live:
        room.close_all()
    return LiveRoom(room, None)

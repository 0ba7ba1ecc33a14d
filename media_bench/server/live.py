"""A live room: its rules (``Room``), its media and its events, and the server's registry."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from media_bench.server.media import RoomMedia
from media_bench.server.metrics import Metrics
from media_bench.server.rooms import Room
from media_bench.server.settings import Settings
from spaces_core.errors import Refused


class LiveRoom:
    """One room and, until it ends, the media that carries its audio."""

    def __init__(self, room: Room, media: RoomMedia | None) -> None:
        self.room = room
        self.media: RoomMedia | None = media
        """None once ended, and for a room another server process serves (read from the
        database)."""

    @property
    def id(self) -> str:
        return self.room.id

    def sync(self) -> None:
        """Apply the room's roles to the media (who is mixed, who hears what)."""
        if self.media is not None:
            self.media.sync()

    def media_or_refuse(self) -> RoomMedia:
        self.require_served_here()
        if self.media is None:
            raise Refused(409, f"room {self.id} has ended")
        return self.media

    def require_served_here(self) -> None:
        if self.media is None and self.room.live:
            raise Refused(409, f"room {self.id} is served by another server process")

    async def end(self, caller: str) -> None:
        self.room.end(caller)
        await self.close_media()

    async def close_media(self) -> None:
        media, self.media = self.media, None
        if media is not None:
            await media.close()


def open_room(room: Room, settings: Settings, metrics: Metrics) -> LiveRoom:
    """A room with its media wired to the server's metrics."""
    media = RoomMedia(
        room,
        settings,
        on_packets_in=metrics.packets_received.inc,
        on_drop=lambda reason: metrics.drops.labels(reason).inc(),
    )
    room.events.on_drop = lambda: metrics.drops.labels("event_overflow").inc()
    media.mixer.on_late = lambda behind: metrics.late_ticks.inc()
    media.mixer.on_duration = _tick_observer(media, metrics)
    return LiveRoom(room, media)


def _tick_observer(media: RoomMedia, metrics: Metrics) -> Callable[[float], None]:
    counted = 0

    def observe(seconds: float) -> None:
        nonlocal counted
        metrics.tick_seconds.observe(seconds)
        encodes = media.mixer.stats.encodes
        if encodes != counted:
            metrics.encodes.inc(encodes - counted)
            counted = encodes
        # What this tick sent, or the senders sent since the previous one (by design).
        delivered = media.fanout.take_sent()
        if delivered:
            metrics.packets_sent.inc(delivered)

    return observe


class LiveRooms(dict[str, LiveRoom]):
    """Every room the server has opened, live or ended, by id."""

    def hosted_by(self, user_id: str) -> Room | None:
        """The live room ``user_id`` hosts, if any (a host has one at a time)."""
        return next((room for room in self.live() if room.host == user_id), None)

    def live(self) -> list[Room]:
        return [entry.room for entry in self.values() if entry.room.live]

    def summaries(self) -> list[dict[str, Any]]:
        return [room.summary() for room in self.live()]

    def head_count(self) -> tuple[int, dict[str, int]]:
        """Live rooms, and their members by role (the metrics' gauges)."""
        live = self.live()
        by_role: Counter[str] = Counter({"host": 0, "cohost": 0, "speaker": 0, "listener": 0})
        for room in live:
            for member in room.members.values():
                by_role[member.role.value] += 1
        return len(live), dict(by_role)

    def media(self) -> dict[str, RoomMedia]:
        return {rid: entry.media for rid, entry in self.items() if entry.media is not None}

    async def close(self) -> None:
        for entry in self.values():
            if entry.room.live and entry.media is not None:
                entry.room.ended_reason = "server stopped"
            entry.room.live = False
            entry.room.close_all()
        await asyncio.gather(*(entry.close_media() for entry in self.values()))

"""A live room: its rules (``Room``), its media and its events, and the server's registry."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

from media_bench.server.fleet import MediaFleet
from media_bench.server.metrics import Metrics
from media_bench.server.peers import DropReason
from media_bench.server.placed_media import PlacedMedia
from media_bench.server.rooms import Room
from media_bench.server.store.database import Database
from media_bench.server.store.ledger import ORIGIN_LOST
from spaces_core.errors import Refused

log = logging.getLogger(__name__)

SPEAKING_DBOV = -50.0
"""A mixed speaker louder than this (over a 200 ms level window) counts as speaking."""


class LiveRoom:
    """One room and, until it ends, the media that carries its audio."""

    def __init__(self, room: Room, media: PlacedMedia | None) -> None:
        self.room = room
        self.media: PlacedMedia | None = media
        """None once ended, and for a room another server process serves (read from the
        database)."""
        self._syncing: set[asyncio.Future[None]] = set()

    @property
    def id(self) -> str:
        return self.room.id

    async def sync(self) -> None:
        """Apply the room's roles to the media (who is mixed, who hears what)."""
        if self.media is not None:
            await self.media.sync(self.room)

    def media_or_refuse(self) -> PlacedMedia:
        self.require_served_here()
        if self.media is None:
            raise Refused(409, f"room {self.id} has ended")
        return self.media

    def require_served_here(self) -> None:
        if self.media is None and self.room.live:
            raise Refused(409, f"room {self.id} is served by another server process")

    def levels(self, levels: dict[str, float]) -> None:
        """Publish levels when someone speaks or the speaking list changed."""
        speaking = [u for u, level in levels.items() if level > SPEAKING_DBOV]
        if speaking != self.room.speaking or speaking:
            self.room.speaking = speaking
            self.room.publish({"type": "levels", "levels": levels, "speaking": speaking})

    def dropped(self, user_id: str) -> bool:
        """The media dropped a member: it leaves the room. False if it had left already."""
        if self.media is not None:
            self.media.dropped(user_id)
        if user_id not in self.room.members:
            return False
        self.room.leave(user_id)
        task = asyncio.ensure_future(self.sync())
        self._syncing.add(task)
        task.add_done_callback(self._syncing.discard)
        return True

    async def finish(self, database: Database, reason: str) -> None:
        """End the room, stored first (a restart then finds it ended, tickets of a room that
        never started refunded once), then for everyone (``Room.stop``); a room something else
        ended meanwhile is left as it is."""
        self.room.refunded += await database.call(
            database.ledger.end_room, self.id, reason, time.time()
        )
        if self.room.live:
            self.room.stop(reason)
            await self.close_media()

    async def close_media(self) -> None:
        media, self.media = self.media, None
        if media is not None:
            await media.close()
        if self._syncing:
            await asyncio.gather(*self._syncing)


async def open_room(room: Room, fleet: MediaFleet, metrics: Metrics) -> LiveRoom:
    """A room with its media on the worker the fleet places it on (its origin)."""
    media = await PlacedMedia.open(room.id, fleet)
    room.events.on_drop = lambda: metrics.drops.labels("event_overflow").inc()
    return LiveRoom(room, media)


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

    async def close(self) -> None:
        for entry in self.values():
            if entry.room.live and entry.media is not None:
                entry.room.ended_reason = "server stopped"
            entry.room.live = False
            entry.room.close_all()
        await asyncio.gather(*(entry.close_media() for entry in self.values()))


class MediaNotices:
    """What the workers report of the rooms' media, applied to the rooms' rules: levels are
    published, a dropped participant leaves (and is counted by reason), a room whose origin
    died ends."""

    def __init__(self, rooms: LiveRooms, metrics: Metrics, database: Database) -> None:
        self.rooms = rooms
        self.metrics = metrics
        self.database = database
        self._ending: set[asyncio.Task[None]] = set()

    def levels(self, room_id: str, levels: dict[str, float]) -> None:
        entry = self.rooms.get(room_id)
        if entry is not None:
            entry.levels(levels)

    def drop(self, room_id: str, user_id: str, reason: DropReason) -> None:
        entry = self.rooms.get(room_id)
        if entry is not None and entry.dropped(user_id):
            self.metrics.drops.labels(reason).inc()

    def worker_lost(self, worker_id: str) -> None:
        """A worker's link broke (its process or node died): everyone whose session it
        carried is dropped, and a room it was the origin of ends (``ORIGIN_LOST``): its
        mixer is gone, so nobody on any worker can hear anyone."""
        for entry in list(self.rooms.values()):
            if entry.media is None:
                continue
            carried = [user_id for user_id, session in entry.media.placed.items()
                       if session.carrier.worker_id == worker_id]
            if entry.media.origin.worker_id == worker_id and entry.room.live:
                self.metrics.drops.labels("worker_lost").inc(len(carried))
                task = asyncio.ensure_future(self._origin_lost(entry, worker_id))
                self._ending.add(task)
                task.add_done_callback(self._ending.discard)
                continue
            for user_id in carried:
                self.drop(entry.id, user_id, "worker_lost")

    async def _origin_lost(self, entry: LiveRoom, worker_id: str) -> None:
        log.warning("room %s ends: its origin, worker %s, was lost", entry.id, worker_id)
        await entry.finish(self.database, ORIGIN_LOST)

    async def close(self) -> None:
        """Wait for the rooms being ended (at shutdown)."""
        if self._ending:
            await asyncio.gather(*self._ending, return_exceptions=True)

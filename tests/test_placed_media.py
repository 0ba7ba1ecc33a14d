"""A room's media placed on workers: syncs that meet the room closing."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import cast

import pytest

from media_bench.server.fleet import Carrier, MediaFleet
from media_bench.server.placed_media import PlacedMedia
from media_bench.server.placement import PlacementLimits
from media_bench.server.rooms import Room
from media_bench.server.worker_protocol import MediaCarrier
from spaces_core.errors import Refused


class SlowWorker:
    """A media worker whose syncs take a moment and that, like ``MediaHost``, refuses any
    call about a room it no longer carries."""

    def __init__(self) -> None:
        self.rooms: set[str] = set()
        self.synced = 0

    async def open_origin(self, room_id: str) -> None:
        self.rooms.add(room_id)

    async def sync(
        self,
        room_id: str,
        members: list[str],
        speakers: list[str],
        mixed: list[str],
        remote: Mapping[str, Sequence[str | int]],
    ) -> None:
        await asyncio.sleep(0.01)
        if room_id not in self.rooms:
            raise Refused(404, f"room {room_id} is not carried here")
        self.synced += 1

    async def close_room(self, room_id: str) -> None:
        self.rooms.discard(room_id)


async def placed_room() -> tuple[PlacedMedia, SlowWorker, Room]:
    fleet = MediaFleet("node", PlacementLimits())
    worker = SlowWorker()
    # Only the calls a room's open, sync and close make: the rest of MediaCarrier is unused.
    fleet.add(Carrier("w0", "node", cast(MediaCarrier, worker), ("127.0.0.1", 9)))
    room = Room("host", room_id="r1")
    return await PlacedMedia.open(room.id, fleet), worker, room


def test_syncs_under_way_when_the_room_closes_end_quietly() -> None:
    async def scenario() -> int:
        media, worker, room = await placed_room()
        syncs = [asyncio.ensure_future(media.sync(room)) for _ in range(3)]
        await asyncio.sleep(0)  # the first is at its worker, the others wait for it
        await media.close()
        await asyncio.gather(*syncs)  # raises if any sync failed
        return worker.synced

    assert asyncio.run(scenario()) == 0


def test_a_sync_the_worker_refuses_while_the_room_is_open_still_fails() -> None:
    async def scenario() -> None:
        media, worker, room = await placed_room()
        await media.sync(room)
        assert worker.synced == 1
        worker.rooms.clear()  # the worker lost the room; the room did not close
        await media.sync(room)

    with pytest.raises(Refused, match="not carried here"):
        asyncio.run(scenario())

"""One room's media as its rules see it: a handle on the ``MediaHost`` that carries it.

The handle turns the rules object (``rooms.Room``) into the stage the media host takes
(members, speakers, mixed; no speaker is remote on a host that mixes every room itself), and
once closed, does nothing more.
"""

from __future__ import annotations

from media_bench.server.media_host import MediaHost
from media_bench.server.rooms import Room


class RoomHandle:
    """Calls the media host for one room."""

    def __init__(self, host: MediaHost, room_id: str) -> None:
        self.host = host
        self.room_id = room_id
        self.closed = False

    async def connect(self, user_id: str, offer_sdp: str) -> str:
        """The answer SDP; the peer stays pending until ``commit`` or ``discard``."""
        return await self.host.connect(self.room_id, user_id, offer_sdp)

    async def commit(self, user_id: str) -> None:
        await self.host.commit(self.room_id, user_id)

    async def discard(self, user_id: str) -> None:
        if not self.closed:
            await self.host.discard(self.room_id, user_id)

    async def disconnect(self, user_id: str) -> None:
        if not self.closed:
            await self.host.disconnect(self.room_id, user_id)

    async def sync(self, room: Room) -> None:
        """Apply the room's roles and departures to its media."""
        if not self.closed:
            members = list(room.members)
            await self.host.sync(self.room_id, members, room.speakers(), room.mixed(), {})

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.host.close_room(self.room_id)

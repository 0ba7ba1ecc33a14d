"""One room's media across the workers that carry it: its origin and, once the origin is full,
the edges that relay the origin's encoded listener mix to further listeners.

Speakers are placed on the origin. A listener who is given the stage while an edge carries
it keeps its session there: the edge forwards its packets, undecoded, to the origin, which
mixes them and returns its N-1 mix the same way (``Stage.remote`` names such speakers). Every
change of the room's roles is sent, as one snapshot, to the origin and every edge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from media_bench.server.fleet import Carrier, MediaFleet
from media_bench.server.rooms import Room


class PlacedMedia:
    """The media of one room, placed on the fleet's workers."""

    def __init__(self, room_id: str, fleet: MediaFleet, origin: Carrier) -> None:
        self.room_id = room_id
        self.fleet = fleet
        self.origin = origin
        self.edges: dict[str, Carrier] = {}
        self.placed: dict[str, Carrier] = {}
        """Each connected participant's worker."""
        self._pending: dict[str, Carrier] = {}
        self._sync_lock = asyncio.Lock()
        self._edge_lock = asyncio.Lock()
        self.closed = False

    async def open(self) -> None:
        await self.origin.media.open_origin(self.room_id)
        self.origin.rooms += 1

    def carriers(self) -> list[Carrier]:
        return [self.origin, *self.edges.values()]

    def listeners_on(self, carrier: Carrier) -> int:
        return sum(1 for c in self.placed.values() if c is carrier)

    async def connect(self, user_id: str, offer_sdp: str, speaks: bool) -> str:
        """The worker's answer to ``user_id``'s offer, placed by the fleet's policy; attached
        by ``commit``, forgotten by ``discard``."""
        async with self._edge_lock:  # two joins at once must not open the same edge twice
            carrier = (
                self.origin
                if speaks
                else self.fleet.place_listener(self.origin, self.edges.values())
            )
            carrier.listeners += 1  # held while the offer is answered
            try:
                if carrier is not self.origin and carrier.worker_id not in self.edges:
                    await self._open_edge(carrier)
            except BaseException:
                carrier.listeners -= 1
                raise
        try:
            answer = await carrier.media.connect(self.room_id, user_id, offer_sdp)
        except BaseException:
            carrier.listeners -= 1
            raise
        self._pending[user_id] = carrier
        return answer

    async def _open_edge(self, edge: Carrier) -> None:
        await edge.media.open_edge(self.room_id, self.origin.relay)
        await self.origin.media.add_edge(self.room_id, edge.relay)
        self.edges[edge.worker_id] = edge
        edge.edges += 1

    async def commit(self, user_id: str) -> None:
        carrier = self._pending.pop(user_id)
        self.placed[user_id] = carrier
        await carrier.media.commit(self.room_id, user_id)

    async def discard(self, user_id: str) -> None:
        carrier = self._pending.pop(user_id, None)
        if carrier is not None and not self.closed:
            carrier.listeners -= 1
            await carrier.media.discard(self.room_id, user_id)
            await self._close_idle_edge(carrier)

    async def sync(self, room: Room) -> None:
        """Send the room's roles and departures to every worker that carries it. The
        snapshot is taken under the lock, so the last sync sent is always the newest."""
        if self.closed:
            return
        async with self._sync_lock:
            members, speakers, mixed = list(room.members), room.speakers(), room.mixed()
            remote: dict[str, Sequence[str | int]] = {
                user: carrier.relay
                for user in speakers
                if (carrier := self.placed.get(user)) is not None and carrier is not self.origin
            }
            for user in [u for u in self.placed if u not in room.members]:
                self._forget(user)
            await asyncio.gather(
                *(
                    carrier.media.sync(self.room_id, members, speakers, mixed, remote)
                    for carrier in self.carriers()
                )
            )
            for edge in list(self.edges.values()):
                await self._close_idle_edge(edge)

    def _forget(self, user_id: str) -> Carrier | None:
        carrier = self.placed.pop(user_id, None)
        if carrier is not None:
            carrier.listeners -= 1
        return carrier

    async def disconnect(self, user_id: str) -> None:
        carrier = self._forget(user_id)
        if carrier is not None and not self.closed:
            await carrier.media.disconnect(self.room_id, user_id)
            await self._close_idle_edge(carrier)

    def dropped(self, user_id: str) -> None:
        """A worker dropped ``user_id``'s session (its peer is already gone there)."""
        self._forget(user_id)

    async def _close_idle_edge(self, carrier: Carrier) -> None:
        """An edge with no listeners left stops relaying (the origin stops sending to it)."""
        if carrier is self.origin or self.edges.get(carrier.worker_id) is not carrier:
            return
        if self.listeners_on(carrier) or carrier in self._pending.values():
            return
        del self.edges[carrier.worker_id]
        carrier.edges -= 1
        await self.origin.media.remove_edge(self.room_id, carrier.relay)
        await carrier.media.close_room(self.room_id)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for user in list(self.placed):
            self._forget(user)
        edges, self.edges = list(self.edges.values()), {}
        for edge in edges:
            edge.edges -= 1
        self.origin.rooms -= 1
        await asyncio.gather(
            *(carrier.media.close_room(self.room_id) for carrier in [self.origin, *edges]),
            return_exceptions=True,
        )

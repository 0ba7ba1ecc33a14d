"""One room's media across the workers that carry it: its origin and, once the origin is full,
the edges that relay the origin's encoded listener mix to further listeners.

The fleet's placement policy says where each participant goes (speakers on the origin,
listeners filling the origin, then edges). A listener who is given the stage while an edge
carries it keeps its session there: the edge forwards its packets, undecoded, to the origin,
which mixes them and returns its N-1 mix the same way (``Stage.remote`` names such speakers).
Every change of the room's roles is sent, as one snapshot, to the origin and every edge.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from media_bench.server.fleet import Carrier, MediaFleet
from media_bench.server.rooms import Room
from spaces_core.errors import Refused


@dataclass(frozen=True)
class Session:
    """Where one participant's WebRTC session is, and whether it was seated as a speaker."""

    carrier: Carrier
    speaking: bool


class PlacedMedia:
    """The media of one room, placed on the fleet's workers."""

    def __init__(self, room_id: str, fleet: MediaFleet, origin: Carrier) -> None:
        self.room_id = room_id
        self.fleet = fleet
        self.origin = origin
        self.edges: dict[str, asyncio.Future[Carrier]] = {}
        """Edge worker id -> the edge once its relay link is up."""
        self.placed: dict[str, Session] = {}
        """Each connected participant's session."""
        self._pending: dict[str, Session] = {}
        self._sync_lock = asyncio.Lock()
        self.closed = False

    @classmethod
    async def open(
        cls, room_id: str, fleet: MediaFleet, entry_node: str | None = None
    ) -> PlacedMedia:
        """The room's origin, placed by the policy and opened there."""
        origin = fleet.open_room(room_id, entry_node)
        try:
            await origin.media.open_origin(room_id)
        except BaseException:
            fleet.close_room(room_id)
            raise
        return cls(room_id, fleet, origin)

    def carriers(self) -> list[Carrier]:
        edges = [e.result() for e in self.edges.values() if e.done() and not e.exception()]
        return [self.origin, *edges]

    async def connect(
        self, user_id: str, offer_sdp: str, speaks: bool, entry_node: str | None = None
    ) -> str:
        """The worker's answer to ``user_id``'s offer, where the policy seats it (a 503 when
        the fleet is full); attached by ``commit``, forgotten by ``discard``."""
        if self.closed:
            raise Refused(409, f"room {self.room_id} has ended")
        seat = self.fleet.seat(self.room_id, speaks, entry_node)
        session = Session(self.fleet.carriers[seat.worker_id], speaks)
        try:
            if session.carrier is not self.origin:
                await self._edge(session.carrier, seat.new_edge)
            answer = await session.carrier.media.connect(self.room_id, user_id, offer_sdp)
        except BaseException:
            await self._release(session)
            raise
        self._pending[user_id] = session
        return answer

    async def _edge(self, edge: Carrier, new: bool) -> None:
        """Wait for the relay link to ``edge`` (opening it when the policy opened the edge)."""
        if new:
            ready: asyncio.Future[Carrier] = asyncio.get_running_loop().create_future()
            self.edges[edge.worker_id] = ready
            try:
                await edge.media.open_edge(self.room_id, self.origin.relay)
                await self.origin.media.add_edge(self.room_id, edge.relay)
            except BaseException as error:
                ready.set_exception(error)
                ready.exception()  # the failure is the opener's to raise, not a stray one
                raise
            ready.set_result(edge)
        else:
            await asyncio.shield(self.edges[edge.worker_id])

    async def commit(self, user_id: str) -> None:
        session = self._pending.pop(user_id)
        self.placed[user_id] = session
        await session.carrier.media.commit(self.room_id, user_id)

    async def discard(self, user_id: str) -> None:
        session = self._pending.pop(user_id, None)
        if session is not None:
            if not self.closed:
                await session.carrier.media.discard(self.room_id, user_id)
            await self._release(session)

    async def sync(self, room: Room) -> None:
        """Send the room's roles and departures to every worker that carries it. The
        snapshot is taken under the lock, so the last sync sent is always the newest."""
        async with self._sync_lock:
            if self.closed:  # also when it closed while this sync waited for the one before
                return
            members, speakers, mixed = list(room.members), room.speakers(), room.mixed()
            remote: dict[str, Sequence[str | int]] = {
                user: session.carrier.relay
                for user in speakers
                if (session := self.placed.get(user)) is not None
                and session.carrier is not self.origin
            }
            gone = [self.placed.pop(u) for u in list(self.placed) if u not in room.members]
            results = await asyncio.gather(
                *(
                    carrier.media.sync(self.room_id, members, speakers, mixed, remote)
                    for carrier in self.carriers()
                ),
                return_exceptions=True,
            )
            for result in results:
                # A room closed while its sync was under way is no longer carried by its
                # workers: their refusal says so, and there is nothing left to apply.
                if isinstance(result, BaseException) and not (
                    self.closed and isinstance(result, Refused)
                ):
                    raise result
            for session in gone:
                await self._release(session)

    async def disconnect(self, user_id: str) -> None:
        session = self.placed.pop(user_id, None)
        if session is not None:
            if not self.closed:
                await session.carrier.media.disconnect(self.room_id, user_id)
            await self._release(session)

    def dropped(self, user_id: str) -> None:
        """A worker dropped ``user_id``'s session (its peer is already gone there)."""
        session = self.placed.pop(user_id, None)
        if session is not None:
            self._spawn_release(session)

    def _spawn_release(self, session: Session) -> None:
        task = asyncio.ensure_future(self._release(session))
        task.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def _release(self, session: Session) -> None:
        """Give the seat back; an edge left with no one is closed (the policy's rule)."""
        if self.closed:
            return
        worker_id = session.carrier.worker_id
        self.fleet.leave(self.room_id, worker_id, session.speaking)
        edge = self.edges.get(worker_id)
        if session.carrier is self.origin or edge is None:
            return
        if worker_id in self.fleet.edges_of(self.room_id):
            return  # still has listeners
        del self.edges[worker_id]
        if edge.done() and not edge.exception():
            with contextlib.suppress(Refused):
                await self.origin.media.remove_edge(self.room_id, session.carrier.relay)
                await session.carrier.media.close_room(self.room_id)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.placed.clear()
        self._pending.clear()
        edges = self.carriers()[1:]
        self.edges.clear()
        self.fleet.close_room(self.room_id)
        await asyncio.gather(
            *(carrier.media.close_room(self.room_id) for carrier in [self.origin, *edges]),
            return_exceptions=True,
        )

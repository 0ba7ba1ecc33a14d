"""All the media one process carries: the rooms it mixes (origins) and the rooms it relays
(edges), behind one JSON-friendly async API a control plane calls, in process or over RPC.

Rooms are named by id; an unknown one is refused with 404. Joins are two-step: ``connect``
answers the offer and keeps the peer pending under (room, user) until ``commit`` or
``discard``. Roles arrive as ``sync`` snapshots (``stage.Stage``); levels and drops go back
through ``on_levels`` and ``on_drop``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from media_bench.server.edge_media import EdgeMedia
from media_bench.server.media import RoomMedia
from media_bench.server.metrics import Metrics, RelayCounts
from media_bench.server.peers import DropReason, Pending
from media_bench.server.relay import RelayEndpoint, relay_key
from media_bench.server.settings import Settings
from media_bench.server.stage import Stage, address_of
from spaces_core.errors import Refused

LevelsCallback = Callable[[str, dict[str, float]], None]
"""``(room_id, levels)``: every mixed speaker's level (dBov), every 200 ms."""
DropCallback = Callable[[str, str, DropReason], None]
"""``(room_id, user_id, reason)``: the media dropped a member; the rules should drop it too."""


class MediaHost:
    """The origins and edges of one process, and its relay endpoint."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        relay_host: str = "127.0.0.1",
        on_levels: LevelsCallback | None = None,
        on_drop: DropCallback | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.relay_host = relay_host
        self.on_levels = on_levels
        self.on_drop = on_drop
        self.origins: dict[str, RoomMedia] = {}
        self.edges: dict[str, EdgeMedia] = {}
        self.relay = RelayEndpoint(RelayCounts(metrics), relay_key(settings.secret))
        self._pending: dict[tuple[str, str], Pending] = {}

    async def start(self) -> None:
        """Bind the relay endpoint (any free port on ``relay_host``)."""
        if not self.relay.started:
            await self.relay.start(self.relay_host)

    @property
    def relay_address(self) -> tuple[str, int]:
        return self.relay.address

    # -- rooms ------------------------------------------------------------------------------
    async def open_origin(self, room_id: str) -> None:
        """Mix ``room_id`` here."""
        self._require_new(room_id)
        metrics = self.metrics
        media = RoomMedia(
            room_id,
            self.settings,
            relay=self.relay.send,
            on_packets_in=metrics.packets_received.inc,
            on_drop=lambda user_id, reason: self._dropped(room_id, user_id, reason),
            on_levels=lambda levels: self._levels(room_id, levels),
        )
        media.mixer.on_late = lambda behind: metrics.late_ticks.inc()
        media.mixer.on_duration = _tick_observer(media, metrics)
        self.origins[room_id] = media
        self.relay.rooms[room_id] = media

    async def open_edge(self, room_id: str, origin: Sequence[str | int]) -> None:
        """Relay ``room_id`` here from the origin at relay address ``origin``."""
        self._require_new(room_id)
        self._require_relay()
        metrics = self.metrics
        edge = EdgeMedia(
            room_id,
            address_of(origin),
            self.relay.send,
            self.settings.relay_timeout,
            self.settings.consent_timeout,
            on_packets_in=metrics.packets_received.inc,
            on_drop=lambda user_id, reason: self._dropped(room_id, user_id, reason),
            on_delay=metrics.relay_delay.observe,
            on_sent=metrics.packets_sent.inc,
        )
        self.edges[room_id] = edge
        self.relay.rooms[room_id] = edge

    async def add_edge(self, room_id: str, edge: Sequence[str | int]) -> None:
        """On the origin: relay the room to ``edge`` (its relay address) from the next tick."""
        self._require_relay()
        try:
            self._origin(room_id).add_edge(address_of(edge))
        except ValueError as error:
            raise Refused(409, f"room {room_id} cannot be relayed: {error}") from error

    async def remove_edge(self, room_id: str, edge: Sequence[str | int]) -> None:
        self._origin(room_id).remove_edge(address_of(edge))

    async def close_room(self, room_id: str) -> None:
        """Stop mixing or relaying ``room_id``: every peer here is closed."""
        media = self._room(room_id)
        self.origins.pop(room_id, None)
        self.edges.pop(room_id, None)
        self.relay.rooms.pop(room_id, None)
        for key in [k for k in self._pending if k[0] == room_id]:
            await media.discard(self._pending.pop(key))
        await media.close()

    async def close(self) -> None:
        await asyncio.gather(*(self.close_room(r) for r in [*self.origins, *self.edges]))
        self.relay.close()

    # -- participants -----------------------------------------------------------------------
    async def connect(self, room_id: str, user_id: str, offer_sdp: str) -> str:
        """Answer an offer; the peer stays pending until ``commit`` or ``discard``.
        ``peers.SdpError`` (a 400 refusal) for an unusable offer."""
        media = self._room(room_id)
        pending = await media.connect(user_id, offer_sdp)
        if self._room_or_none(room_id) is not media:  # closed while ICE gathered
            await media.discard(pending)
            raise Refused(409, f"room {room_id} closed while {user_id} connected")
        earlier = self._pending.pop((room_id, user_id), None)
        self._pending[room_id, user_id] = pending
        if earlier is not None:
            await media.discard(earlier)
        return pending.answer

    async def commit(self, room_id: str, user_id: str) -> None:
        """Attach the pending peer: it hears the room from the next tick on."""
        media = self._room(room_id)
        pending = self._pending.pop((room_id, user_id), None)
        if pending is None:
            raise Refused(409, f"{user_id} has no pending connection to room {room_id}")
        media.commit(pending)

    async def discard(self, room_id: str, user_id: str) -> None:
        media = self._room(room_id)
        pending = self._pending.pop((room_id, user_id), None)
        if pending is not None:
            await media.discard(pending)

    async def sync(
        self,
        room_id: str,
        members: list[str],
        speakers: list[str],
        mixed: list[str],
        remote: Mapping[str, Sequence[str | int]],
    ) -> None:
        """Apply the room's roles: peers of non-members close, speakers hear N-1 mixes."""
        self._room(room_id).sync(Stage.of(members, speakers, mixed, remote))

    async def disconnect(self, room_id: str, user_id: str) -> None:
        """Close a participant's peer now (it left or was removed)."""
        await self._room(room_id).disconnect(user_id)

    def load(self) -> dict[str, int]:
        """Rooms mixed here, rooms relayed here, peers hearing a listener mix here, and N-1
        mixes this host encodes (origins) or forwards (edges)."""
        listeners = speakers = 0
        for origin in self.origins.values():
            listeners += sum(1 for u in origin.peers if u not in origin.mixer.outputs)
            speakers += len(origin.mixer.outputs)
        for edge in self.edges.values():
            carried = sum(1 for u in edge.peers if u in edge.stage.remote)
            listeners += len(edge.peers) - carried
            speakers += carried
        return {
            "rooms": len(self.origins),
            "edges": len(self.edges),
            "listeners": listeners,
            "speakers": speakers,
        }

    # -- inside -----------------------------------------------------------------------------
    def _room_or_none(self, room_id: str) -> RoomMedia | EdgeMedia | None:
        return self.origins.get(room_id) or self.edges.get(room_id)

    def _room(self, room_id: str) -> RoomMedia | EdgeMedia:
        media = self._room_or_none(room_id)
        if media is None:
            raise Refused(404, f"room {room_id} is not carried here")
        return media

    def _origin(self, room_id: str) -> RoomMedia:
        media = self.origins.get(room_id)
        if media is None:
            raise Refused(404, f"room {room_id} is not mixed here")
        return media

    def _require_new(self, room_id: str) -> None:
        if self._room_or_none(room_id) is not None:
            raise Refused(409, f"room {room_id} is already carried here")

    def _require_relay(self) -> None:
        if not self.relay.started:
            raise Refused(409, "the relay endpoint is not started")

    def _dropped(self, room_id: str, user_id: str, reason: DropReason) -> None:
        if self.on_drop is not None:
            self.on_drop(room_id, user_id, reason)

    def _levels(self, room_id: str, levels: dict[str, float]) -> None:
        if self.on_levels is not None:
            self.on_levels(room_id, levels)


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

"""The media workers an API process places rooms and participants on.

A worker is a ``MediaCarrier`` (the API process's own ``MediaHost``, or a worker process over
its control link) with a relay address. Where each room and person goes is the placement
policy's decision (``placement.Placement``: fill, then spill) on the fleet's loads
(``placement.Fleet``), the same rule the capacity plan replays; this module carries the
decisions out on real workers and keeps the loads as they change.
"""

from __future__ import annotations

from dataclasses import dataclass

from media_bench.server.placement import (
    CloseRoom,
    Fleet,
    Leave,
    Placement,
    PlacementLimits,
    Refusal,
    Seat,
    WorkerLoad,
)
from media_bench.server.worker_protocol import MediaCarrier
from spaces_core.errors import Refused

FULL = 503
"""The status of a placement refusal: nothing is wrong with the request, the fleet is full."""


@dataclass(eq=False)
class Carrier:
    """One media worker: how to call it and where its relay endpoint is."""

    worker_id: str
    node_id: str
    media: MediaCarrier
    relay: tuple[str, int]
    alive: bool = True


class MediaFleet:
    """Every worker this process may place media on, their loads and the placement policy."""

    def __init__(self, node_id: str, limits: PlacementLimits) -> None:
        self.node_id = node_id
        self.carriers: dict[str, Carrier] = {}
        self.loads = Fleet([], limits)
        self.policy = Placement()

    def add(self, carrier: Carrier, capacity: float | None = None) -> None:
        """A worker joins the fleet with ``capacity`` (default: the limits' per worker)."""
        self.carriers[carrier.worker_id] = carrier
        limit = self.loads.limits.listeners_per_worker if capacity is None else capacity
        self.loads.add_worker(WorkerLoad(carrier.worker_id, carrier.node_id, limit))

    def retire(self, worker_id: str) -> None:
        """A worker that died takes nothing more (what it carried is being dropped)."""
        self.carriers[worker_id].alive = False
        self.loads.set_capacity(worker_id, 0.0)

    def open_room(self, room_id: str, entry_node: str | None = None) -> Carrier:
        decision = self.policy.open_room(self.loads, room_id, entry_node or self.node_id)
        if isinstance(decision, Refusal):
            raise Refused(FULL, f"every media worker is full: {decision.reason}")
        self.loads.apply(decision)
        return self.carriers[decision.worker_id]

    def seat(self, room_id: str, speaking: bool, entry_node: str | None = None) -> Seat:
        """Where one more person of ``room_id`` goes; the place is held until ``leave``."""
        decision = self.policy.join(self.loads, room_id, speaking, entry_node or self.node_id)
        if isinstance(decision, Refusal):
            raise Refused(FULL, f"every media worker is full: {decision.reason}")
        self.loads.apply(decision)
        return decision

    def leave(self, room_id: str, worker_id: str, speaking: bool) -> None:
        if room_id in self.loads.rooms:
            self.loads.apply(Leave(room_id, worker_id, 1, speaking))

    def close_room(self, room_id: str) -> None:
        if room_id in self.loads.rooms:
            self.loads.apply(CloseRoom(room_id))

    def edges_of(self, room_id: str) -> list[str]:
        room = self.loads.rooms.get(room_id)
        return [] if room is None else list(room.edges)

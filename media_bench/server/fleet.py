"""The media workers an API process places rooms and participants on, with their loads.

A worker is a ``MediaCarrier`` (the API process's own ``MediaHost``, or a worker process over
its control link) with a relay address and a listener capacity. The fleet keeps each
worker's load as this process placed it and asks the placement policy (``placement``) where
the next room or participant goes: a room's origin, then its edges.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from media_bench.server.worker_protocol import MediaCarrier
from spaces_core.errors import Refused


@dataclass(eq=False)
class Carrier:
    """One media worker as the fleet sees it."""

    worker_id: str
    node_id: str
    media: MediaCarrier
    relay: tuple[str, int]
    capacity: int
    """Listener sessions it carries at most (the placement limits')."""
    listeners: int = 0
    rooms: int = 0
    edges: int = 0
    alive: bool = True

    @property
    def free(self) -> int:
        return self.capacity - self.listeners


@dataclass
class MediaFleet:
    """Every worker this process may place media on, by worker id."""

    node_id: str
    carriers: dict[str, Carrier] = field(default_factory=dict)

    def add(self, carrier: Carrier) -> None:
        self.carriers[carrier.worker_id] = carrier

    def alive(self) -> list[Carrier]:
        return [c for c in self.carriers.values() if c.alive]

    def place_room(self) -> Carrier:
        """The origin of a new room: the alive worker with the most free slots, this node's
        first; ties by worker id."""
        return _most_free(self.alive(), self.node_id)

    def place_listener(self, origin: Carrier, edges: Iterable[Carrier]) -> Carrier:
        """Fill, then spill: the origin while it has a free slot, then the existing edge with
        the most free slots, then a new edge on the worker with the most free slots."""
        if origin.alive and origin.free > 0:
            return origin
        open_edges = [e for e in edges if e.alive and e.free > 0]
        if open_edges:
            return _most_free(open_edges, self.node_id)
        candidates = [c for c in self.alive() if c is not origin and c.free > 0]
        return _most_free(candidates, self.node_id)


def _most_free(carriers: list[Carrier], node_id: str) -> Carrier:
    usable = [c for c in carriers if c.free > 0]
    if not usable:
        raise Refused(503, "every media worker is full; try again later")
    return min(usable, key=lambda c: (c.node_id != node_id, -c.free, c.worker_id))

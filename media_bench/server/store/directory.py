"""The directory of a fleet of server nodes, in the same database as the ledger: each node and
its media workers (addresses, load, heartbeat), which worker is each room's origin, and which
edge workers relay it. Each method is one transaction.

A node is ``up`` from ``register_node`` until ``stop_node`` (``stopped``) or until another
node's ``mark_lost`` finds its heartbeat older than the lost-after threshold (``lost``). A lost
node's live rooms are ended (with the ledger's own end and refund rule), its workers and their
relays leave the directory's live view, and its own next ``heartbeat`` returns False: it was
given up for dead and must register again, under a new id, to be placed on again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, insert, or_, select, update

from media_bench.server.store.ledger import LIVE, end_live_room
from media_bench.server.store.schema import nodes, relays, rooms, workers

UP, STOPPED, LOST = "up", "stopped", "lost"
NODE_LOST = "node lost"
"""The reason a room is ended with when its node is marked lost."""


def worker_id(node_id: str, position: int) -> str:
    """The id of a node's ``position``-th worker."""
    return f"{node_id}/{position}"


@dataclass(frozen=True)
class WorkerAddress:
    """How to reach one of a node's media workers."""

    position: int
    control_url: str
    """The worker's control endpoint (http:// or ws://)."""
    relay_host: str
    relay_port: int
    """Where the worker receives relayed RTP and room events (UDP)."""


@dataclass(frozen=True)
class WorkerCounts:
    """A worker's load as it reports it in a heartbeat."""

    rooms: int
    """Rooms it is the origin of."""
    edges: int
    """Rooms it relays as an edge."""
    listeners: int


@dataclass(frozen=True)
class WorkerRecord:
    """A live worker as the directory holds it."""

    id: str
    node_id: str
    position: int
    control_url: str
    relay_host: str
    relay_port: int
    heartbeat_at: float
    counts: WorkerCounts


@dataclass(frozen=True)
class Origin:
    """Where a room is mixed: its origin worker and that worker's node."""

    worker: WorkerRecord
    api_url: str
    """The node's HTTP API."""


@dataclass(frozen=True)
class Relay:
    """An edge worker relaying a room."""

    room_id: str
    worker_id: str
    listeners: int
    opened_at: float


class Directory:
    """The directory as one node (``node_id``) reads and writes it."""

    def __init__(self, engine: Engine, node_id: str) -> None:
        self.engine = engine
        self.node_id = node_id

    # -- this node -------------------------------------------------------------------------
    def register_node(self, api_url: str, addresses: Sequence[WorkerAddress], now: float
                      ) -> None:  # fmt: skip
        """Enter this node, ``up``, with its workers (each idle, ``up``); registering again
        starts it afresh."""
        with self.engine.begin() as c:
            own_workers = select(workers.c.id).where(workers.c.node_id == self.node_id)
            c.execute(delete(relays).where(relays.c.worker_id.in_(own_workers)))
            c.execute(delete(workers).where(workers.c.node_id == self.node_id))
            c.execute(delete(nodes).where(nodes.c.id == self.node_id))
            c.execute(insert(nodes).values(id=self.node_id, api_url=api_url, started_at=now,
                                           heartbeat_at=now, status=UP))  # fmt: skip
            for address in addresses:
                c.execute(
                    insert(workers).values(
                        id=worker_id(self.node_id, address.position),
                        node_id=self.node_id,
                        position=address.position,
                        control_url=address.control_url,
                        relay_host=address.relay_host,
                        relay_port=address.relay_port,
                        heartbeat_at=now,
                        rooms=0,
                        edges=0,
                        listeners=0,
                        status=UP,
                    )
                )

    def heartbeat(self, counts: Mapping[int, WorkerCounts], now: float) -> bool:
        """Record that this node and its workers (by position) are alive, with their load.
        False: the node is no longer ``up`` (another node marked it lost) and nothing changed."""
        with self.engine.begin() as c:
            beat = c.execute(
                update(nodes)
                .where(nodes.c.id == self.node_id, nodes.c.status == UP)
                .values(heartbeat_at=now)
            )
            if beat.rowcount == 0:
                return False
            for position, load in counts.items():
                c.execute(
                    update(workers)
                    .where(workers.c.id == worker_id(self.node_id, position))
                    .values(heartbeat_at=now, rooms=load.rooms, edges=load.edges,
                            listeners=load.listeners)
                )  # fmt: skip
            return True

    def stop_node(self) -> None:
        """A clean shutdown: this node and its workers are ``stopped`` and relay nothing. Its
        rooms are ended by the ledger (``Ledger.end_rooms_of_this_server``)."""
        with self.engine.begin() as c:
            _retire(c, self.node_id, STOPPED)

    # -- every node ------------------------------------------------------------------------
    def mark_lost(self, now: float, after_seconds: float) -> dict[str, list[str]]:
        """Mark ``lost`` every ``up`` node whose heartbeat is older than ``after_seconds`` and
        end its live rooms; returns each node newly marked and the rooms ended. Whichever node
        notices first marks it: the status update is conditional, so a concurrent call finds
        nothing left to do (PostgreSQL re-checks the condition after the first commits)."""
        found: dict[str, list[str]] = {}
        with self.engine.begin() as c:
            stale = c.execute(
                select(nodes.c.id)
                .where(nodes.c.status == UP, nodes.c.heartbeat_at < now - after_seconds)
                .order_by(nodes.c.id)  # one lock order for every caller
            ).scalars()
            for node_id in list(stale):
                marked = c.execute(
                    update(nodes)
                    .where(nodes.c.id == node_id, nodes.c.status == UP)
                    .values(status=LOST)
                )
                if marked.rowcount == 0:
                    continue
                found[node_id] = _end_rooms_of(c, node_id, now)
                _retire(c, node_id, LOST)
        return found

    def other_nodes(self) -> list[str]:
        """The API addresses of the other ``up`` nodes, by node id."""
        with self.engine.connect() as c:
            found = c.execute(
                select(nodes.c.api_url)
                .where(nodes.c.status == UP, nodes.c.id != self.node_id)
                .order_by(nodes.c.id)
            ).scalars()
            return list(found)

    def alive_workers(self) -> list[WorkerRecord]:
        """The workers that may be placed on: ``up``, on an ``up`` node, by id."""
        with self.engine.connect() as c:
            found = c.execute(
                select(workers)
                .join(nodes, nodes.c.id == workers.c.node_id)
                .where(workers.c.status == UP, nodes.c.status == UP)
                .order_by(workers.c.id)
            )
            return [_worker(row) for row in found]

    # -- rooms -----------------------------------------------------------------------------
    def set_origin(self, room_id: str, worker: str) -> None:
        """``worker`` mixes ``room_id`` from now on."""
        with self.engine.begin() as c:
            c.execute(update(rooms).where(rooms.c.id == room_id).values(origin_worker=worker))

    def room_origin(self, room_id: str) -> Origin | None:
        """The live room's origin worker and its node's API, when the room has one that is up."""
        with self.engine.connect() as c:
            row = c.execute(
                select(workers, nodes.c.api_url)
                .join(rooms, rooms.c.origin_worker == workers.c.id)
                .join(nodes, nodes.c.id == workers.c.node_id)
                .where(rooms.c.id == room_id, rooms.c.status == LIVE, workers.c.status == UP)
            ).first()
        return None if row is None else Origin(_worker(row), row.api_url)

    def add_relay(self, room_id: str, worker: str, now: float) -> None:
        """``worker`` relays ``room_id`` as an edge (no listeners yet); again: no change."""
        with self.engine.begin() as c:
            held = c.execute(
                select(relays.c.worker_id).where(relays.c.room_id == room_id,
                                                 relays.c.worker_id == worker)
            ).first()  # fmt: skip
            if held is None:
                c.execute(insert(relays).values(room_id=room_id, worker_id=worker, listeners=0,
                                                opened_at=now))  # fmt: skip

    def set_relay_listeners(self, room_id: str, worker: str, listeners: int) -> None:
        with self.engine.begin() as c:
            c.execute(
                update(relays)
                .where(relays.c.room_id == room_id, relays.c.worker_id == worker)
                .values(listeners=listeners)
            )

    def remove_relay(self, room_id: str, worker: str) -> None:
        with self.engine.begin() as c:
            c.execute(
                delete(relays).where(relays.c.room_id == room_id, relays.c.worker_id == worker)
            )

    def relays_of(self, room_id: str) -> list[Relay]:
        """The edges relaying ``room_id``, oldest first."""
        with self.engine.connect() as c:
            found = c.execute(
                select(relays)
                .where(relays.c.room_id == room_id)
                .order_by(relays.c.opened_at, relays.c.worker_id)
            )
            return [Relay(r.room_id, r.worker_id, r.listeners, r.opened_at) for r in found]


def _end_rooms_of(c: Connection, node_id: str, now: float) -> list[str]:
    """End the node's live rooms: those it opened (``served_by``) or whose origin it runs."""
    own_workers = select(workers.c.id).where(workers.c.node_id == node_id)
    live = c.execute(
        select(rooms.c.id)
        .where(rooms.c.status == LIVE,
               or_(rooms.c.served_by == node_id, rooms.c.origin_worker.in_(own_workers)))
        .order_by(rooms.c.seq)
    ).scalars()  # fmt: skip
    ended = list(live)
    for room_id in ended:
        end_live_room(c, room_id, NODE_LOST, now)
    return ended


def _retire(c: Connection, node_id: str, status: str) -> None:
    own_workers = select(workers.c.id).where(workers.c.node_id == node_id)
    c.execute(delete(relays).where(relays.c.worker_id.in_(own_workers)))
    c.execute(update(workers).where(workers.c.node_id == node_id).values(status=status))
    c.execute(update(nodes).where(nodes.c.id == node_id).values(status=status))


def _worker(row: Row[Any]) -> WorkerRecord:
    r = row._mapping
    return WorkerRecord(
        id=r["id"],
        node_id=r["node_id"],
        position=r["position"],
        control_url=r["control_url"],
        relay_host=r["relay_host"],
        relay_port=r["relay_port"],
        heartbeat_at=r["heartbeat_at"],
        counts=WorkerCounts(r["rooms"], r["edges"], r["listeners"]),
    )

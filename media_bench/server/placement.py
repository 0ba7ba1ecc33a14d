"""Where rooms and people go: one placement policy, "fill, then spill" (then grow), that the
server runs on its fleet of media workers and the capacity plan replays on the simulated peak
hour.

The rule:

- **A new room** goes to the alive worker with the most free capacity, which becomes its
  *origin* (it mixes the room and encodes its listener mix once), but only to a worker that
  still has ``PlacementLimits.min_open_slots`` free listener slots once the room and its host
  are on it. A worker on the node that received the request is preferred when one qualifies.
  An origin keeps some headroom free of listeners (``PlacementLimits.origin_headroom``) for its
  rooms' later speakers and the relay links to their edges.
- **A speaker** (host, co-host, speaker) is always placed on the room's origin.
- **A listener** is placed on the room's origin while the origin has a free listener slot; then
  on the room's existing edge with the most free slots (edges on the entry node first); only
  when every edge is full is a new edge opened, on the alive worker with the most free
  listener slots (entry node first), and only on one with at least ``min_edge_slots`` of them.
  An edge receives the origin's already-encoded listener mix and the room's events over one
  relay link, which costs its origin ``relay_cost_per_edge``.
- **Fill, then spill, then grow**: a worker with fewer than ``min_open_slots`` free listener
  slots takes no new room, and one with fewer than ``min_edge_slots`` no new edge; what it has
  left is for the rooms it already carries to grow into. So a room opens where it can grow,
  an edge takes at least ``min_edge_slots`` listeners before the room needs another, and a
  nearly full fleet is *full* rather than squeezed: the server refuses (503), and the
  capacity plan adds a node.
- **Nothing free**: a ``Refusal`` with its reason (the server answers 503 with it);
  ``Refusal.fleet_full`` says whether more workers would have helped.

Ties go to the smaller worker id, so the same fleet and the same requests always give the same
placement.

Cascade depth is one hop, origin to edge. Deeper trees (an edge feeding edges) are not built:
they are needed when a room wants more edges than its origin can feed. Listeners fill the
origin first, so its relay links are paid from its headroom and whatever else is free: at
the defaults 64 edges, a room of ~29,000 listeners; ``PlacementLimits.max_edges_per_origin``
is the bound for an origin that holds no listeners at all. Such a room's further listeners
are refused, with a reason that says so (``fleet_full`` false: more workers do not help).

Everything here is pure: the policy reads a ``Fleet`` and returns decisions; only
``Fleet.apply`` changes the fleet.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sim.rules.rooms import STAGE_CAPACITY


@dataclass(frozen=True)
class PlacementLimits:
    """What one worker (one core) carries, in listener-equivalents: the CPU of one listener
    of the ``direct`` fan-out. ``spaces-lab bench cascade`` is to measure these; until it
    does, each default says where it comes from."""

    listeners_per_worker: float = 451.0
    """A worker's capacity. ``spaces-lab bench mixer``'s ``direct`` listeners per core (fit)
    on these shared 2-core machines, 2026-12-02 (the same day's quiet-machine fit was 904:
    the lower figure keeps a plan on the safe side)."""
    room_cost: float = 3.0
    """A room's mix and its one listener-mix encode: Opus at complexity 5 takes ~103 us per
    20 ms tick (DESIGN, facts about the stack), 0.5% of a core, ~2.3 listeners."""
    speaker_cost: float = 5.0
    """A speaker on the origin: aiortc's receive path (~125 us a packet), decode (~22 us) and
    its N-1 encode at complexity 0 (~49 us), ~1% of a core, ~4.5 listeners."""
    relay_cost_per_edge: float = 1.0
    """An origin's cost of feeding one edge: one more send of the already-encoded packet each
    tick, taken as one listener's (an upper bound: a relay link holds no listener state)."""
    min_open_slots: float = 32.0
    """The free listener slots a worker must have to open a new room, after the room's, its
    host's and the origin headroom's costs. Without it rooms open on nearly full workers and
    spill at once: the first capacity plan, placing a 108k-room peak, cascaded 8,465 small
    rooms, one onto 60 edges. 32: at the simulated baseline's busiest minute (2023-10-12)
    the median room has 4 listeners and 90% of rooms at most 7, so a room opens where it
    fits whole; replaying that minute, rooms that cascade fall from 1,217 to ~320 and none
    of at most 32 listeners does, for ~6% more workers (the slots kept for growth)."""
    min_edge_slots: float = 128.0
    """The free listener slots a worker must have to become a new edge of a room. An edge
    costs its origin a relay link, and an origin feeds only as many as its headroom pays
    for (64 at the defaults), so an edge on a worker's last few slots spends that budget
    for little: at 32, the baseline peak's biggest rooms stopped at 64 edges of ~70
    listeners each (~5,000 listeners, where 64 full edges carry ~29,000). 128 (a quarter of
    a worker): any room gets at least 64 x 128 listeners on one hop, usually full edges."""
    origin_headroom: float = 64.0
    """What a worker that is some room's origin keeps free of listeners, for its rooms'
    speakers joining later and for relay links to their edges: a full stage's speakers
    (13 x 5) or 64 edges (a room of ~28,000 listeners). Reserving a full stage per room
    instead would hold 68 listener-equivalents for rooms that mostly seat a few speakers."""

    def __post_init__(self) -> None:
        for name in ("min_open_slots", "min_edge_slots"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def room_opening(self) -> float:
        """The free capacity a worker needs to open a room: the room, its host, an origin's
        headroom and ``min_open_slots`` listeners."""
        return self.room_cost + self.speaker_cost + self.origin_headroom + self.min_open_slots

    @property
    def least_worker_listeners(self) -> float:
        """The smallest ``listeners_per_worker`` a cascade can use: a worker must have room to
        open a room and to open an edge."""
        return max(self.room_opening, self.min_edge_slots)

    @property
    def max_edges_per_origin(self) -> int:
        """The most edges one origin could feed, mixing one full-stage room and doing nothing
        else: past this a room needs a deeper cascade (edge to edge), which is not built."""
        busy = self.room_cost + STAGE_CAPACITY * self.speaker_cost
        return math.floor((self.listeners_per_worker - busy) / self.relay_cost_per_edge)


@dataclass
class WorkerLoad:
    """One worker as placement sees it (counts, not sessions)."""

    worker_id: str
    node_id: str
    capacity: float
    """Listener-equivalents it carries (``PlacementLimits.listeners_per_worker``)."""
    listeners: int = 0
    """Listener sessions on it, of its own rooms and of rooms it is an edge of."""
    rooms: int = 0
    """Rooms it is the origin of."""
    edges: int = 0
    """Rooms it relays as an edge."""
    relays: int = 0
    """Relay links it feeds (edges of its rooms)."""


@dataclass
class RoomPlacement:
    """Where one room's people are."""

    room_id: str
    origin: str
    speakers: int = 0
    listeners: int = 0
    """Listeners on the origin."""
    edges: dict[str, int] = field(default_factory=dict)
    """Edge worker id -> listeners on it."""

    @property
    def total_listeners(self) -> int:
        return self.listeners + sum(self.edges.values())


@dataclass(frozen=True)
class OpenRoom:
    """Make ``worker_id`` the new room's origin."""

    room_id: str
    worker_id: str


@dataclass(frozen=True)
class Seat:
    """Place ``count`` people of a room on ``worker_id``; ``new_edge``: open a relay link
    from the origin to it first."""

    room_id: str
    worker_id: str
    count: int
    speaking: bool
    new_edge: bool = False


@dataclass(frozen=True)
class Refusal:
    """No worker can take it; ``reason`` is what the server answers (503). ``fleet_full``:
    more workers would have taken it (a plan grows the fleet); otherwise they would not
    (the room's origin is what is short)."""

    room_id: str
    reason: str
    fleet_full: bool = False


@dataclass(frozen=True)
class Leave:
    """``count`` people of a room left ``worker_id`` (an edge left empty is closed)."""

    room_id: str
    worker_id: str
    count: int
    speaking: bool


@dataclass(frozen=True)
class CloseRoom:
    """The room ended: its origin, edges and everyone in it are released."""

    room_id: str


Decision = OpenRoom | Seat | Refusal
Change = Decision | Leave | CloseRoom
"""What ``Fleet.apply`` takes: the policy's decisions and what people and rooms did."""


class Fleet:
    """The workers and rooms placement decides on; the server keeps one from the directory,
    the capacity plan one of its own. ``apply`` is the only way decisions change it."""

    def __init__(self, workers: Iterable[WorkerLoad], limits: PlacementLimits) -> None:
        self.limits = limits
        self.workers: dict[str, WorkerLoad] = {}
        self.rooms: dict[str, RoomPlacement] = {}
        self._speakers: dict[str, int] = {}
        self._by_free: list[tuple[float, str]] = []
        self._by_slots: list[tuple[float, str]] = []
        for worker in workers:
            self.add_worker(worker)

    def add_worker(self, worker: WorkerLoad) -> None:
        self.workers[worker.worker_id] = worker
        self._speakers[worker.worker_id] = 0
        self._touched(worker.worker_id)

    def set_capacity(self, worker_id: str, capacity: float) -> None:
        """A worker's capacity changed (0: it died and takes nothing more)."""
        self.workers[worker_id].capacity = capacity
        self._touched(worker_id)

    def free(self, worker_id: str) -> float:
        """Listener-equivalents still free on the worker."""
        w, limits = self.workers[worker_id], self.limits
        used = (w.listeners + w.rooms * limits.room_cost + w.relays * limits.relay_cost_per_edge
                + self._speakers[worker_id] * limits.speaker_cost)  # fmt: skip
        return w.capacity - used

    def listener_slots(self, worker_id: str) -> int:
        """Listeners the worker can still take, keeping an origin's headroom."""
        held = self.limits.origin_headroom if self.workers[worker_id].rooms else 0.0
        return max(math.floor(self.free(worker_id) - held + 1e-9), 0)

    def fits_room(self, worker_id: str) -> bool:
        """Whether the worker can open a room and seat its host, keep an origin's headroom and
        still have ``min_open_slots`` listener slots."""
        return self.free(worker_id) >= self.limits.room_opening - 1e-9

    def fits_edge(self, worker_id: str) -> bool:
        """Whether the worker has the ``min_edge_slots`` listener slots a new edge needs."""
        return self.listener_slots(worker_id) >= self.limits.min_edge_slots - 1e-9

    def most_free(
        self, accept: Callable[[str], bool], by_slots: bool = False, at_least: float = 0.0
    ) -> str | None:
        """The accepted worker with the most free capacity (``by_slots``: listener slots) if
        that is at least ``at_least`` (and above 0 slots), ties to the smaller id, without a
        scan of every worker (an index kept by ``apply``)."""
        heap = self._by_slots if by_slots else self._by_free
        score: Callable[[str], float] = self.listener_slots if by_slots else self.free
        passed: list[tuple[float, str]] = []
        found = None
        while heap:
            key, worker_id = heap[0]
            if -key != score(worker_id):  # stale: the worker changed since this entry
                heapq.heappop(heap)
                continue
            if -key < at_least - 1e-9 or (by_slots and key == 0):
                break  # the heap holds nothing better
            passed.append(heapq.heappop(heap))
            if accept(worker_id):
                found = worker_id
                break
        for entry in passed:
            heapq.heappush(heap, entry)
        return found

    def place_whole(self, room_id: str, worker_id: str, speakers: int, listeners: int) -> None:
        """What ``OpenRoom`` on ``worker_id`` and then ``Seat`` of the room's speakers and of
        its listeners, all on that origin, do, applied at once (``Placement.open_rooms``)."""
        if room_id in self.rooms:
            raise ValueError(f"room {room_id} is already placed")
        self.rooms[room_id] = RoomPlacement(room_id, worker_id, speakers, listeners)
        worker = self.workers[worker_id]
        worker.rooms += 1
        worker.listeners += listeners
        self._speakers[worker_id] += speakers
        self._touched(worker_id)

    def _touched(self, *worker_ids: str) -> None:
        for worker_id in dict.fromkeys(worker_ids):  # once each
            heapq.heappush(self._by_free, (-self.free(worker_id), worker_id))
            heapq.heappush(self._by_slots, (-self.listener_slots(worker_id), worker_id))

    def apply(self, change: Change) -> None:
        """Carry out a decision or record a change (a ``Refusal`` changes nothing)."""
        if isinstance(change, OpenRoom):
            if change.room_id in self.rooms:
                raise ValueError(f"room {change.room_id} is already placed")
            self.rooms[change.room_id] = RoomPlacement(change.room_id, change.worker_id)
            self.workers[change.worker_id].rooms += 1
            self._touched(change.worker_id)
        elif isinstance(change, Seat):
            self._seat(change)
            self._touched(change.worker_id, self.rooms[change.room_id].origin)
        elif isinstance(change, Leave):
            origin = self.rooms[change.room_id].origin
            self._leave(change)
            self._touched(change.worker_id, origin)
        elif isinstance(change, CloseRoom):
            room = self.rooms[change.room_id]
            held = [room.origin, *room.edges]
            self._close(change.room_id)
            self._touched(*held)

    def _seat(self, seat: Seat) -> None:
        room = self.rooms[seat.room_id]
        worker = self.workers[seat.worker_id]
        if seat.speaking:
            room.speakers += seat.count
            self._speakers[room.origin] += seat.count
            return
        if seat.new_edge:
            room.edges[seat.worker_id] = 0
            worker.edges += 1
            self.workers[room.origin].relays += 1
        if seat.worker_id == room.origin:
            room.listeners += seat.count
        else:
            room.edges[seat.worker_id] += seat.count
        worker.listeners += seat.count

    def _leave(self, leave: Leave) -> None:
        room = self.rooms[leave.room_id]
        if leave.speaking:
            room.speakers -= leave.count
            self._speakers[room.origin] -= leave.count
            return
        self.workers[leave.worker_id].listeners -= leave.count
        if leave.worker_id == room.origin:
            room.listeners -= leave.count
            return
        room.edges[leave.worker_id] -= leave.count
        if room.edges[leave.worker_id] == 0:
            self._close_edge(room, leave.worker_id)

    def _close_edge(self, room: RoomPlacement, worker_id: str) -> None:
        del room.edges[worker_id]
        self.workers[worker_id].edges -= 1
        self.workers[room.origin].relays -= 1

    def _close(self, room_id: str) -> None:
        room = self.rooms[room_id]
        for edge, listeners in list(room.edges.items()):
            self.workers[edge].listeners -= listeners
            self._close_edge(room, edge)
        origin = self.workers[room.origin]
        origin.listeners -= room.listeners
        origin.rooms -= 1
        self._speakers[room.origin] -= room.speakers
        del self.rooms[room_id]


class Placement:
    """The policy: decisions for a fleet, never changing it."""

    def open_room(
        self, fleet: Fleet, room_id: str, entry_node: str | None = None
    ) -> OpenRoom | Refusal:
        """The new room's origin: the worker with the most free capacity that can take the
        room, its host, an origin's headroom and ``min_open_slots`` listeners, on
        ``entry_node`` when one there can."""
        if entry_node is None:
            best = fleet.most_free(_anyone, at_least=fleet.limits.room_opening)
        else:
            fits = [w for w in fleet.workers.values() if fleet.fits_room(w.worker_id)]
            best = _best(fits, fleet.free, entry_node)
        if best is None:
            return Refusal(room_id, "no worker has room for another room", fleet_full=True)
        return OpenRoom(room_id, best)

    def join(
        self, fleet: Fleet, room_id: str, speaking: bool, entry_node: str | None = None
    ) -> Seat | Refusal:
        """Where one person joining ``room_id`` goes."""
        room = fleet.rooms.get(room_id)
        if room is None:
            return Refusal(room_id, f"room {room_id} has no origin")
        if speaking:
            return self.join_speakers(fleet, room_id, 1)
        return self._listener_run(fleet, room, 1, entry_node)

    def join_speakers(self, fleet: Fleet, room_id: str, count: int) -> Seat | Refusal:
        """``count`` speakers joining ``room_id``: its origin, when it has room for them all."""
        room = fleet.rooms.get(room_id)
        if room is None:
            return Refusal(room_id, f"room {room_id} has no origin")
        if count * fleet.limits.speaker_cost > fleet.free(room.origin) + 1e-9:
            return Refusal(room_id, "the room's origin has no room for another speaker")
        return Seat(room_id, room.origin, count, speaking=True)

    def open_rooms(
        self, fleet: Fleet, room_ids: Sequence[str], speakers: int, listeners: int
    ) -> int:
        """Rooms of one size opening one after another, each with its ``speakers`` and then its
        ``listeners`` joining, applied to ``fleet`` as they go: the same placement as
        ``open_room``, ``join_speakers`` and ``join_listeners`` room by room, in one step
        each (a capacity plan opens 10^5 rooms), for as long as each room fits whole on its
        origin. How many were placed; the next one, if any, would cascade or be refused, and
        is the caller's to place the ordinary way."""
        limits = fleet.limits
        for done, room_id in enumerate(room_ids):
            origin = fleet.most_free(_anyone, at_least=limits.room_opening)
            if origin is None:
                return done
            free = fleet.free(origin) - limits.room_cost
            if speakers * limits.speaker_cost > free + 1e-9:
                return done
            free -= speakers * limits.speaker_cost
            if listeners > max(math.floor(free - limits.origin_headroom + 1e-9), 0):
                return done
            fleet.place_whole(room_id, origin, speakers, listeners)
        return len(room_ids)

    def join_listeners(
        self, fleet: Fleet, room_id: str, count: int, entry_node: str | None = None
    ) -> list[Seat | Refusal]:
        """``count`` listeners joining one after another, applied to ``fleet`` as they go:
        the same seats as ``count`` calls of ``join`` and ``apply``, in runs (a capacity plan
        places rooms of 10^5 listeners). Stops at the first refusal."""
        if room_id not in fleet.rooms:
            return [Refusal(room_id, f"room {room_id} has no origin")]
        done: list[Seat | Refusal] = []
        left = count
        while left > 0:
            decision = self._listener_run(fleet, fleet.rooms[room_id], left, entry_node)
            done.append(decision)
            if isinstance(decision, Refusal):
                break
            fleet.apply(decision)
            left -= decision.count
        return done

    def _listener_run(
        self, fleet: Fleet, room: RoomPlacement, most: int, entry_node: str | None
    ) -> Seat | Refusal:
        """Where the next listener goes, and how many of the next ``most`` go there before
        the rule would pick another worker."""
        slots = fleet.listener_slots
        if slots(room.origin) > 0:
            return Seat(room.room_id, room.origin, min(most, slots(room.origin)), False)
        open_edges = [fleet.workers[w] for w in room.edges if slots(w) > 0]
        edge = _best(open_edges, slots, entry_node)
        if edge is not None:
            local = fleet.workers[edge].node_id == entry_node
            same_class = [
                w for w in open_edges if w.worker_id != edge and (w.node_id == entry_node) == local
            ]
            runner_up = max((slots(w.worker_id) for w in same_class), default=0)
            return Seat(room.room_id, edge, max(1, min(most, slots(edge) - runner_up)), False)
        if fleet.free(room.origin) < fleet.limits.relay_cost_per_edge:
            return Refusal(
                room.room_id,
                "the room's origin cannot feed another edge "
                "(a deeper cascade would be needed; it is not built)",
            )

        def elsewhere(worker_id: str) -> bool:
            return worker_id != room.origin and worker_id not in room.edges

        if entry_node is None:
            new = fleet.most_free(elsewhere, by_slots=True, at_least=fleet.limits.min_edge_slots)
        else:
            candidates = [
                w
                for w in fleet.workers.values()
                if elsewhere(w.worker_id) and fleet.fits_edge(w.worker_id)
            ]
            new = _best(candidates, slots, entry_node)
        if new is None:
            return Refusal(
                room.room_id,
                f"no worker has the {fleet.limits.min_edge_slots:g} free listener slots "
                "a new edge needs",
                fleet_full=True,
            )
        return Seat(room.room_id, new, 1, False, new_edge=True)


def _anyone(worker_id: str) -> bool:
    return True


def _best(
    workers: Iterable[WorkerLoad], score: Callable[[str], float], entry_node: str | None
) -> str | None:
    """The worker with the highest ``score`` on ``entry_node`` if any is there, else of all;
    ties to the smaller id."""
    pool = list(workers)
    if entry_node is not None:
        local = [w for w in pool if w.node_id == entry_node]
        pool = local or pool
    if not pool:
        return None
    return min(pool, key=lambda w: (-score(w.worker_id), w.worker_id)).worker_id

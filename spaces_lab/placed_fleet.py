"""A fleet the server could run: the simulated peak minute's rooms, each its own size, placed
with the server's own placement policy (``media_bench.server.placement``: fill, then spill,
then grow) onto workers (one a core) and nodes (``cores_per_node`` workers each).

Rooms are placed in start order, each opened, then its speakers, then its listeners, as the
server would see them arrive. The fleet grows a node at a time, only when the policy says
the fleet is full (``Refusal.fleet_full``), so the fleet printed is the smallest this replay
needed. A room the policy refuses for another reason keeps what was placed of it and says
why: a room of more listeners than one hop carries (an origin feeds as many edges as its
headroom pays for, ``one_hop_listeners``) needs a deeper cascade, which is not built; its
``depth_needed`` and the ``extra_workers`` such a tree would add are estimates.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from media_bench.server.placement import (
    Fleet,
    OpenRoom,
    Placement,
    PlacementLimits,
    Refusal,
    WorkerLoad,
)

POLICY = Placement()

ROOM_COLUMNS: dict[str, str] = {
    "room": "the room (r<start order>)",
    "start_min": "when it started, minutes after 00:00 UTC",
    "speakers": "people on stage at the peak minute (at least the host)",
    "listeners": "listeners at the peak minute",
    "origin": "worker that mixes it (n<node>/w<core>)",
    "edges": "edge workers its listeners spilled to (relay links from the origin)",
    "workers": "workers it occupies: origin and edges",
    "depth": "cascade hops used: 0 on its origin alone, 1 origin to edges",
    "placed_listeners": "listeners the fleet carries",
    "depth_needed": "hops the whole room needs under the limits (2 and more: not built)",
    "extra_workers": "edges a deeper cascade would add for the listeners not carried (estimate)",
    "reason": "the policy's answer when the room was not carried whole",
}
WORKER_COLUMNS: dict[str, str] = {
    "worker": "n<node>/w<core>",
    "node": "n<node>",
    "capacity": "listener-equivalents it carries (PlacementLimits.listeners_per_worker)",
    "rooms": "rooms it is the origin of",
    "speakers": "speakers on it (they sit on their room's origin)",
    "listeners": "listener sessions on it",
    "edges": "rooms it relays as an edge",
    "relays": "relay links it feeds (edges of its rooms)",
    "used": "listener-equivalents used",
}


def real_rooms(rows: pd.DataFrame) -> pd.DataFrame:
    """Each panel room as the real rooms it stands for (its weight, rounded so the total is
    kept: largest remainders), in start order: room, start_min, speakers, listeners."""
    weight = rows["weight"].to_numpy(dtype=float)
    copies = np.floor(weight).astype(np.int64)
    short = round(float(weight.sum())) - int(copies.sum())
    if short > 0:
        copies[np.argsort(-(weight - copies), kind="stable")[:short]] += 1
    expanded = rows.loc[rows.index.repeat(copies)]
    out = pd.DataFrame({
        "start_min": expanded["start_min"].to_numpy(dtype=float),
        "speakers": np.maximum(expanded["speakers"].to_numpy(dtype=np.int64), 1),
        "listeners": np.rint(expanded["listeners"].to_numpy(dtype=float)).astype(np.int64),
    })  # fmt: skip
    out = out.sort_values("start_min", kind="stable").reset_index(drop=True)
    out.insert(0, "room", [f"r{i}" for i in range(len(out))])
    return out


def one_hop_listeners(limits: PlacementLimits, speakers: int) -> int:
    """The most listeners a room with ``speakers`` on stage holds under the rule on an origin
    of its own: the origin's listener slots, then as many edges as its headroom feeds
    (listeners fill the origin first, so relays are paid from the headroom), each full."""
    free = limits.listeners_per_worker - limits.room_cost - speakers * limits.speaker_cost
    on_origin = max(math.floor(free - limits.origin_headroom + 1e-9), 0)
    relay_budget = min(limits.origin_headroom, free)
    edges = max(math.floor(relay_budget / limits.relay_cost_per_edge + 1e-9), 0)
    return on_origin + edges * math.floor(limits.listeners_per_worker + 1e-9)


def depth_needed(limits: PlacementLimits, speakers: int, listeners: int) -> int:
    """Hops a room needs: 0 on its origin alone, 1 origin to edges, then one more for each
    level of edges that feed edges (an edge feeding only edges feeds ``capacity / relay``
    of them; an estimate: deeper trees are not built)."""
    free = limits.listeners_per_worker - limits.room_cost - speakers * limits.speaker_cost
    if listeners <= max(math.floor(free - limits.origin_headroom + 1e-9), 0):
        return 0
    carried, depth = one_hop_listeners(limits, speakers), 1
    fanout = max(math.floor(limits.listeners_per_worker / limits.relay_cost_per_edge), 2)
    while listeners > carried:
        carried *= fanout
        depth += 1
    return depth


@dataclass
class PlacedFleet:
    """The fleet after placing: one row per room with where it went, one per worker."""

    fleet: Fleet
    nodes: int
    cores_per_node: int
    rooms: pd.DataFrame
    seconds: float = 0.0
    refusals: dict[str, str] = field(default_factory=dict)

    @property
    def limits(self) -> PlacementLimits:
        return self.fleet.limits

    @property
    def workers(self) -> int:
        return len(self.fleet.workers)

    def worker_table(self) -> pd.DataFrame:
        """One row per worker (``WORKER_COLUMNS``)."""
        speakers: dict[str, int] = {}
        for room in self.fleet.rooms.values():
            speakers[room.origin] = speakers.get(room.origin, 0) + room.speakers
        rows = [
            (w.worker_id, w.node_id, w.capacity, w.rooms, speakers.get(w.worker_id, 0),
             w.listeners, w.edges, w.relays, w.capacity - self.fleet.free(w.worker_id))
            for w in self.fleet.workers.values()
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=list(WORKER_COLUMNS))

    def cascaded(self) -> pd.DataFrame:
        """The rooms that needed edges, biggest first."""
        rooms = self.rooms
        out: pd.DataFrame = rooms[rooms["edges"] > 0].sort_values(
            ["listeners", "room"], ascending=[False, True]
        )
        return out

    def summary(self) -> pd.DataFrame:
        """The plan in one tidy table: quantity, value, note."""
        rooms, limits = self.rooms, self.limits
        biggest = rooms.iloc[int(np.argmax(rooms["listeners"].to_numpy()))] if len(rooms) else None
        cascaded = rooms[rooms["edges"] > 0]
        beyond = rooms[rooms["depth_needed"] > 1]
        # what the rule keeps whole: a room whose listeners and speakers past the host fit in
        # the min_open_slots its origin had free when it opened
        past_host = (rooms["speakers"] - 1).clip(lower=0) * limits.speaker_cost
        small = rooms["listeners"] + past_host <= limits.min_open_slots
        not_carried = int(rooms["listeners"].sum() - rooms["placed_listeners"].sum())
        rows: list[tuple[str, object, str]] = [
            ("rooms", len(rooms), "live at the busiest peak minute, each its own size"),
            ("listeners", int(rooms["listeners"].sum()), ""),
            ("speakers", int(rooms["speakers"].sum()), ""),
            ("workers", self.workers, "one a core, each one media process"),
            ("nodes", self.nodes, f"{self.cores_per_node} cores (workers) each"),
            ("rooms on their origin alone", int((rooms["edges"] == 0).sum()), "depth 0"),
            ("rooms cascaded", len(cascaded), "origin to edges: depth 1, the only depth built"),
            ("small rooms cascaded", int((small & (rooms["edges"] > 0)).sum()),
             f"listeners and speakers past the host within min_open_slots "
             f"({limits.min_open_slots:g})"),
            ("most edges of a room", int(rooms["edges"].max()) if len(rooms) else 0, ""),
            ("edges (relay links)", int(rooms["edges"].sum()), ""),
            ("biggest room: listeners", int(biggest["listeners"]) if biggest is not None else 0,
             f"{biggest['room']}, {biggest['speakers']} speakers" if biggest is not None else ""),
            ("biggest room: origin", str(biggest["origin"]) if biggest is not None else "", ""),
            ("biggest room: edges", int(biggest["edges"]) if biggest is not None else 0,
             f"carries {int(biggest['placed_listeners']):,}" if biggest is not None else ""),
            ("one hop carries at most", one_hop_listeners(limits, 1),
             f"listeners in one room (origin_headroom {limits.origin_headroom:g} pays the relays)"),
            ("rooms needing more than one hop", len(beyond),
             f"depth 2+ is not built: {int(beyond['listeners'].sum()):,} listeners in them"),
            ("listeners not carried", not_carried,
             "in rooms the policy refused further listeners"),
            ("extra workers a deeper cascade would add", int(rooms["extra_workers"].sum()),
             "estimate: full edges for the listeners not carried"),
            ("seconds to place", round(self.seconds, 2), ""),
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=["quantity", "value", "note"])


def place(
    rooms: pd.DataFrame, limits: PlacementLimits, cores_per_node: int | None = None
) -> PlacedFleet:
    """Place ``rooms`` (``real_rooms``' columns, in that order) with the server's policy:
    each room opened, its speakers seated, then its listeners, growing the fleet a node at a
    time when the policy says it is full."""
    import time

    started = time.perf_counter()
    per_node = cores_per_node or os.cpu_count() or 1
    fleet = Fleet([], limits)
    grower = _Grower(fleet, per_node)
    refusals: dict[str, str] = {}
    ids: list[str] = rooms["room"].tolist()
    speakers = rooms["speakers"].to_numpy(dtype=np.int64)
    listeners = rooms["listeners"].to_numpy(dtype=np.int64)
    # runs of rooms of one size (a panel room's copies): whole rooms go in one step each
    change = np.flatnonzero((np.diff(speakers) != 0) | (np.diff(listeners) != 0)) + 1
    for start, end in zip([0, *change.tolist()], [*change.tolist(), len(ids)], strict=True):
        size = int(speakers[start]), int(listeners[start])
        at = start
        while at < end:
            at += POLICY.open_rooms(fleet, ids[at:end], *size)
            if at < end:  # this one cascades, or the fleet is full
                reason = _place_room(fleet, ids[at], *size, grower)
                if reason is not None:
                    refusals[ids[at]] = reason
                at += 1
    table = _room_table(rooms, fleet, refusals)
    return PlacedFleet(fleet, grower.nodes, per_node, table, time.perf_counter() - started,
                       refusals)  # fmt: skip


class _Grower:
    """Adds a node of workers to the fleet."""

    def __init__(self, fleet: Fleet, per_node: int) -> None:
        self.fleet, self.per_node, self.nodes = fleet, per_node, 0

    def __call__(self) -> None:
        node = f"n{self.nodes:05d}"
        capacity = self.fleet.limits.listeners_per_worker
        for i in range(self.per_node):
            self.fleet.add_worker(WorkerLoad(f"{node}/w{i:03d}", node, capacity))
        self.nodes += 1


def _place_room(
    fleet: Fleet, room_id: str, speakers: int, listeners: int, grow: _Grower
) -> str | None:
    """Open the room, seat its speakers and listeners, growing the fleet when it is full;
    the policy's reason when more workers would not help."""
    opened = POLICY.open_room(fleet, room_id)
    if isinstance(opened, Refusal):
        grow()
        opened = POLICY.open_room(fleet, room_id)
    if not isinstance(opened, OpenRoom):
        return opened.reason
    fleet.apply(opened)
    seated = POLICY.join_speakers(fleet, room_id, speakers)
    if isinstance(seated, Refusal):
        return seated.reason
    fleet.apply(seated)
    left = listeners
    while left > 0:
        decisions = POLICY.join_listeners(fleet, room_id, left)
        last = decisions[-1]
        if isinstance(last, Refusal):
            left -= sum(d.count for d in decisions[:-1] if not isinstance(d, Refusal))
            if not last.fleet_full:
                return last.reason
            grow()
        else:
            left = 0
    return None


def _room_table(rooms: pd.DataFrame, fleet: Fleet, refusals: dict[str, str]) -> pd.DataFrame:
    limits = fleet.limits
    placed = [fleet.rooms.get(r) for r in rooms["room"].tolist()]
    edges = np.array([len(p.edges) if p else 0 for p in placed], dtype=np.int64)
    carried = np.array([p.total_listeners if p else 0 for p in placed], dtype=np.int64)
    speakers = rooms["speakers"].to_numpy(dtype=np.int64)
    listeners = rooms["listeners"].to_numpy(dtype=np.int64)
    needed = np.zeros(len(rooms), dtype=np.int64)
    origin_alone = np.floor(limits.listeners_per_worker - limits.room_cost - speakers *
                            limits.speaker_cost - limits.origin_headroom + 1e-9)  # fmt: skip
    for i in np.flatnonzero(listeners > origin_alone):
        needed[i] = depth_needed(limits, int(speakers[i]), int(listeners[i]))
    short = listeners - carried
    extra = np.ceil(short / math.floor(limits.listeners_per_worker)).astype(np.int64)
    table = pd.DataFrame({
        "room": rooms["room"].to_numpy(),
        "start_min": rooms["start_min"].to_numpy(dtype=float),
        "speakers": speakers,
        "listeners": listeners,
        "origin": [p.origin if p else "" for p in placed],
        "edges": edges,
        "workers": np.where([p is not None for p in placed], 1 + edges, 0),
        "depth": (edges > 0).astype(np.int64),
        "placed_listeners": carried,
        "depth_needed": needed,
        "extra_workers": np.where(short > 0, extra, 0),
        "reason": [refusals.get(r, "") for r in rooms["room"].tolist()],
    })  # fmt: skip
    return table

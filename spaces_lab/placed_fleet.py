"""A fleet the server could run: the simulated peak minute's rooms, each its own size, placed
with the server's own placement policy (``media_bench.server.placement``) onto workers (one a
core) and nodes (``cores_per_node`` workers each).

Rooms are placed in start order, each opened, then its speakers, then its listeners. The fleet
grows a node at a time, only when the policy refuses (no worker has room), so the fleet printed
is the smallest this replay needed. A room the policy still refuses on a fresh node (it would
need a deeper cascade than one hop) is counted as unplaced, with the policy's reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable
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


def busiest_minute(peak_rooms: pd.DataFrame) -> pd.DataFrame:
    """The rows of the (rep, date) whose peak minute has the most listeners."""
    listeners = (
        (peak_rooms["weight"] * peak_rooms["listeners"])
        .groupby([peak_rooms["rep"], peak_rooms["date"]])
        .sum()
    )
    rep, date = listeners.index[int(np.argmax(listeners.to_numpy()))]
    chosen: pd.DataFrame = peak_rooms[(peak_rooms["rep"] == rep) & (peak_rooms["date"] == date)]
    return chosen


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


@dataclass
class PlacedFleet:
    """The fleet after placing; ``rooms`` has one row per room with where it went."""

    fleet: Fleet
    nodes: int
    cores_per_node: int
    rooms: pd.DataFrame
    refusals: dict[str, str] = field(default_factory=dict)

    @property
    def workers(self) -> int:
        return len(self.fleet.workers)

    def summary(self) -> dict[str, object]:
        """The fleet in numbers: workers, nodes, cascades, the biggest room."""
        rooms = self.rooms
        biggest = rooms.iloc[int(np.argmax(rooms["listeners"].to_numpy()))] if len(rooms) else None
        return {
            "rooms": len(rooms),
            "listeners": int(rooms["listeners"].sum()),
            "workers": self.workers,
            "nodes": self.nodes,
            "cores_per_node": self.cores_per_node,
            "rooms_cascaded": int((rooms["edges"] > 0).sum()),
            "cascade_depth": 1 if (rooms["edges"] > 0).any() else 0,
            "most_edges": int(rooms["edges"].max()) if len(rooms) else 0,
            "biggest_room_listeners": int(biggest["listeners"]) if biggest is not None else 0,
            "biggest_room_origin": str(biggest["origin"]) if biggest is not None else "",
            "biggest_room_edges": int(biggest["edges"]) if biggest is not None else 0,
            "unplaced_rooms": len(self.refusals),
        }


def place(rooms: pd.DataFrame, limits: PlacementLimits, cores_per_node: int | None = None
          ) -> PlacedFleet:  # fmt: skip
    """Place ``rooms`` (``real_rooms``' columns, in that order) with the server's policy."""
    per_node = cores_per_node or os.cpu_count() or 1
    fleet = Fleet([], limits)
    nodes = 0
    refusals: dict[str, str] = {}

    def add_node() -> None:
        nonlocal nodes
        for i in range(per_node):
            fleet.add_worker(WorkerLoad(f"n{nodes:05d}/w{i:03d}", f"n{nodes:05d}",
                                        limits.listeners_per_worker))  # fmt: skip
        nodes += 1

    for room_id, speakers, listeners in zip(
        rooms["room"], rooms["speakers"], rooms["listeners"], strict=True
    ):
        reason = _place_room(fleet, str(room_id), int(speakers), int(listeners), add_node)
        if reason is not None:
            refusals[str(room_id)] = reason
    placed = [fleet.rooms.get(str(r)) for r in rooms["room"]]
    table = rooms.assign(
        origin=[p.origin if p else "" for p in placed],
        edges=[len(p.edges) if p else 0 for p in placed],
        workers_used=[1 + len(p.edges) if p else 0 for p in placed],
        placed_listeners=[p.total_listeners if p else 0 for p in placed],
    )
    return PlacedFleet(fleet, nodes, per_node, table, refusals)


def _place_room(fleet: Fleet, room_id: str, speakers: int, listeners: int,
                grow: Callable[[], None]) -> str | None:  # fmt: skip
    """Open the room, seat its speakers and listeners, growing the fleet on refusals; the
    reason when even a fresh node does not help."""
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
        left -= sum(d.count for d in decisions if not isinstance(d, Refusal))
        last = decisions[-1]
        if isinstance(last, Refusal):
            if "no worker has a free listener slot" not in last.reason:
                return last.reason
            grow()
    return None

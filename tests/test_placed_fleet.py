"""The capacity plan places the peak minute's rooms, each its own size, with the server's
placement policy: a 20,000-listener room cascades onto the edges the limits imply, no worker
is over capacity, and weights become whole rooms with the total kept."""

from __future__ import annotations

import math

import pandas as pd

from media_bench.server.placement import PlacementLimits
from spaces_lab.placed_fleet import busiest_minute, place, real_rooms

LIMITS = PlacementLimits()


def synthetic_peak() -> pd.DataFrame:
    """One 20,000-listener room that starts first, and 60 rooms of 30 (weight 3 x 20)."""
    return pd.DataFrame({
        "rep": 0, "date": pd.Timestamp("2023-12-01"), "minute": 1200,
        "room": [0, 1], "start_min": [600.0, 700.0], "listeners": [20_000.0, 30.0],
        "speakers": [5, 2], "weight": [1.0, 60.0],
    })  # fmt: skip


def test_a_20000_listener_room_cascades_onto_the_expected_edges_never_over_capacity() -> None:
    rooms = real_rooms(synthetic_peak())
    placed = place(rooms, LIMITS, cores_per_node=8)
    assert placed.refusals == {}
    big = placed.rooms.iloc[0]
    assert big["listeners"] == 20_000 and big["placed_listeners"] == 20_000
    capacity = LIMITS.listeners_per_worker
    on_origin = math.floor(capacity - LIMITS.room_cost - 5 * LIMITS.speaker_cost
                           - LIMITS.origin_headroom)  # fmt: skip
    assert big["edges"] == math.ceil((20_000 - on_origin) / math.floor(capacity))
    assert big["edges"] <= LIMITS.max_edges_per_origin
    for worker_id in placed.fleet.workers:
        assert placed.fleet.free(worker_id) >= -1e-9
    assert (placed.rooms["placed_listeners"] == placed.rooms["listeners"]).all()
    summary = placed.summary()
    # a small room opened on a worker the big one left nearly full spills too: fill, then spill
    assert summary["rooms_cascaded"] >= 1 and summary["cascade_depth"] == 1  # type: ignore[operator]
    assert summary["biggest_room_edges"] == big["edges"]
    assert summary["workers"] == 8 * summary["nodes"]  # type: ignore[operator]
    # the small rooms fill the spare capacity: no more nodes than the listeners need
    listeners = 20_000 + 60 * 30
    assert summary["nodes"] <= math.ceil(listeners / (capacity - 100) / 8) + 1  # type: ignore[operator]


def test_weights_become_whole_rooms_in_start_order_and_keep_the_total() -> None:
    rows = pd.DataFrame({
        "rep": 0, "date": pd.Timestamp("2023-12-01"), "minute": 1,
        "room": [0, 1, 2], "start_min": [50.0, 10.0, 30.0], "listeners": [4.4, 10.0, 7.0],
        "speakers": [0, 3, 2], "weight": [1.4, 1.3, 1.3],
    })  # fmt: skip
    rooms = real_rooms(rows)
    assert len(rooms) == 4  # 1.4 + 1.3 + 1.3 = 4: one extra copy, to the largest remainder
    assert rooms["start_min"].tolist() == [10.0, 30.0, 50.0, 50.0]
    assert rooms["listeners"].tolist() == [10, 7, 4, 4] and rooms["speakers"].min() == 1


def test_the_busiest_minute_is_the_day_with_the_most_listeners() -> None:
    quiet = synthetic_peak().assign(date=pd.Timestamp("2023-11-01"), listeners=[10.0, 1.0])
    both = pd.concat([quiet, synthetic_peak()], ignore_index=True)
    assert (busiest_minute(both)["date"] == pd.Timestamp("2023-12-01")).all()

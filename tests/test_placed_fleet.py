"""The capacity plan places the peak minute's rooms, each its own size, with the server's
placement policy: a 20,000-listener room cascades onto the edges the limits imply, no worker
is over capacity, small rooms never cascade while there is room elsewhere, a room past one
hop says so, weights become whole rooms with the total kept, and a seeded run's plan is the
committed one."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from media_bench.server.placement import PlacementLimits
from sim.peak_rooms import busiest_minute
from spaces_core.runfolder import RunWriter, read_manifest, read_table
from spaces_lab import capacity
from spaces_lab.cli import main
from spaces_lab.placed_fleet import (
    PlacedFleet,
    depth_needed,
    one_hop_listeners,
    place,
    real_rooms,
)
from tests.golden.placed_plan import GOLDEN, plan_summary, seeded_plan

LIMITS = PlacementLimits()


def synthetic_peak(big: float = 20_000.0) -> pd.DataFrame:
    """One ``big`` room with 5 speakers that starts first, then 60 rooms of 30 listeners and
    2 speakers (weight 60), then 400 rooms of 5 (weight 400)."""
    return pd.DataFrame({
        "rep": 0, "date": pd.Timestamp("2023-12-01"), "minute": 1200,
        "room": [0, 1, 2], "start_min": [600.0, 700.0, 800.0], "listeners": [big, 30.0, 5.0],
        "speakers": [5, 2, 1], "weight": [1.0, 60.0, 400.0],
    })  # fmt: skip


def summary(placed: PlacedFleet) -> dict[str, object]:
    table = placed.summary()
    return dict(zip(table["quantity"], table["value"], strict=True))


def test_a_20000_listener_room_cascades_onto_the_expected_edges_never_over_capacity() -> None:
    rooms = real_rooms(synthetic_peak())
    placed = place(rooms, LIMITS, cores_per_node=8)
    assert placed.refusals == {}
    big = placed.rooms.iloc[0]
    assert big["listeners"] == 20_000 and big["placed_listeners"] == 20_000
    capacity_ = LIMITS.listeners_per_worker
    on_origin = math.floor(capacity_ - LIMITS.room_cost - 5 * LIMITS.speaker_cost
                           - LIMITS.origin_headroom)  # fmt: skip
    # a fresh fleet: every edge a whole worker, the fleet grown a node at a time
    assert big["edges"] == math.ceil((20_000 - on_origin) / math.floor(capacity_)) == 44
    assert big["depth"] == big["depth_needed"] == 1 and big["workers"] == 45
    for worker_id in placed.fleet.workers:
        assert placed.fleet.free(worker_id) >= -1e-9
    assert (placed.rooms["placed_listeners"] == placed.rooms["listeners"]).all()
    numbers = summary(placed)
    assert numbers["rooms cascaded"] == 1 and numbers["biggest room: edges"] == 44
    assert numbers["workers"] == 8 * placed.nodes
    # the small rooms fill the spare capacity: no more nodes than the load needs, plus one
    load = (20_000 + 5 * LIMITS.speaker_cost + 60 * (30 + 2 * LIMITS.speaker_cost)
            + 400 * (5 + LIMITS.speaker_cost) + 461 * LIMITS.room_cost)  # fmt: skip
    assert placed.nodes <= math.ceil(load / capacity_ / 8) + 1


def test_small_rooms_never_cascade_when_there_is_room_elsewhere() -> None:
    """Every worker the 20,000-listener room left has fewer than ``min_open_slots`` free or
    is an edge of it: the small rooms open on fresh capacity, whole, and never on an edge's
    last slots; the old rule (a room or an edge on any free slot) spilled them."""
    rooms = real_rooms(synthetic_peak())
    placed = place(rooms, LIMITS, cores_per_node=8)
    small = placed.rooms[placed.rooms["listeners"] <= 30]
    assert len(small) == 460 and (small["edges"] == 0).all()
    squeezed = PlacementLimits(min_open_slots=1, min_edge_slots=1)
    old = place(rooms, squeezed, cores_per_node=8)
    assert (old.rooms["edges"].iloc[1:] > 0).sum() > 0  # the first cut's fragmentation


def test_a_room_past_one_hop_is_carried_as_far_as_one_hop_goes_and_says_so() -> None:
    rooms = real_rooms(synthetic_peak(big=100_000.0))
    placed = place(rooms, LIMITS, cores_per_node=8)
    big = placed.rooms.iloc[0]
    assert big["placed_listeners"] == one_hop_listeners(LIMITS, 5) < 100_000
    assert big["edges"] == LIMITS.origin_headroom // LIMITS.relay_cost_per_edge
    assert big["depth"] == 1 and big["depth_needed"] == 2
    assert "deeper cascade" in big["reason"] and big["extra_workers"] == math.ceil(
        (100_000 - big["placed_listeners"]) / math.floor(LIMITS.listeners_per_worker)
    )
    assert (placed.rooms["placed_listeners"].iloc[1:] == placed.rooms["listeners"].iloc[1:]).all()
    assert depth_needed(LIMITS, 1, 100) == 0 and depth_needed(LIMITS, 1, 10_000) == 1
    assert depth_needed(LIMITS, 1, 10**6) == 2


def test_the_placed_fleet_is_costed_beside_the_load_split_freely() -> None:
    rooms = synthetic_peak()
    plan = capacity.plan_peak(rooms, cores_per_node=8)
    workers = plan.workers()
    assert workers["cpu_cores"].max() <= 1.0 + 1e-9  # limits and model agree
    table = plan.comparison().set_index("quantity")
    free, placed = table["load splits freely"], table["placed (fill, then spill)"]
    assert placed["relay links"] == 44
    assert placed["cores (workers)"] >= free["cores (workers)"]  # placement costs cores
    assert placed["CPU of the work (cores)"] == pytest.approx(
        free["CPU of the work (cores)"] + placed["of which relays (cores)"]
    )
    sizes = plan.sizes()
    assert sizes["rooms"].sum() == 461 and sizes.loc["10,000-99,999", "most_edges"] == 44


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
    quiet = synthetic_peak().assign(date=pd.Timestamp("2023-11-01"), listeners=[10.0, 1.0, 1.0])
    both = pd.concat([quiet, synthetic_peak()], ignore_index=True)
    assert (busiest_minute(both)["date"] == pd.Timestamp("2023-12-01")).all()


def test_a_seeded_runs_plan_is_the_committed_one_every_time() -> None:
    first, second = seeded_plan(), seeded_plan()
    pd.testing.assert_frame_equal(first.placed.rooms, second.placed.rooms)
    pd.testing.assert_frame_equal(first.placed.worker_table(), second.placed.worker_table())
    expected = pd.read_csv(GOLDEN, dtype=str)
    pd.testing.assert_frame_equal(plan_summary(first), expected)


def test_spaces_lab_plan_prints_and_writes_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no runs/ here: the limits' defaults, no benchmark
    sim = tmp_path / "runs" / "sim-baseline-x"
    sim.mkdir(parents=True)
    writer = RunWriter(sim, "sim", {})
    writer.write_table("peak_rooms", synthetic_peak())
    writer.finish()
    out = tmp_path / "plan"
    assert main(["plan", "--cores-per-node", "8", "--top", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "rooms cascaded" in printed and "load splits freely" in printed
    assert "the 2 biggest rooms" in printed and "r0" in printed
    assert read_table(out, "rooms")["edges"].iloc[0] == 44
    assert set(read_manifest(out)["tables"]) == {"summary", "comparison", "sizes", "rooms",
                                                 "workers"}  # fmt: skip
    assert main(["plan", "--sim-run", str(tmp_path / "nothing")]) == 2
    assert "--sim-run" in capsys.readouterr().err

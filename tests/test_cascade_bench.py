"""``spaces-lab bench cascade``: its arithmetic (histogram quantiles, the relay hop, relay cost
in listeners, the placement limits it writes), its relay micro-benchmark, and a smoke run."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from media_bench.client.cascade import (
    _only_late,
    edge_saturation,
    origin_headroom_for,
    origin_share_listeners,
    ramp_worker_listeners,
    step_fault,
)
from media_bench.client.cascade_report import (
    LIMITS_FILE,
    capacity_limits,
    cost_fit,
    print_latest_cascade,
    relay_figures,
    relay_hop_ms,
    relay_rows,
    summarise,
)
from media_bench.client.relay_cost import relay_slope_us, relay_tick_costs
from media_bench.client.worker_meter import bucket_quantile, histogram_buckets, workers_of
from media_bench.server.metrics import Metrics
from media_bench.server.placement import PlacementLimits
from media_bench.server.settings import Settings
from spaces_core.runfolder import RunWriter, read_manifest, read_table


def delays_histogram(delays_s: list[float]) -> dict[float, float]:
    """Cumulative buckets of the relay delay histogram after observing ``delays_s``."""
    metrics = Metrics(lambda: (0, {}))
    for delay in delays_s:
        metrics.relay_delay.observe(delay)
    return histogram_buckets(metrics.render().decode(), "spaces_relay_delay_seconds")


def test_the_relay_delay_p99_is_its_bucket_and_rises_with_a_slower_hop() -> None:
    rng = np.random.default_rng(1)
    quick = list(rng.uniform(0.0002, 0.0018, 1000))
    before = delays_histogram([])
    low, high, count = bucket_quantile(before, delays_histogram(quick), 0.99)
    assert (low, high, count) == (0.001, 0.002, 1000)
    # the same hop 6 ms slower: its p99 leaves the 5 ms target's buckets
    low, high, _ = bucket_quantile(before, delays_histogram([d + 0.006 for d in quick]), 0.99)
    assert (low, high) == (0.005, 0.01)
    # only what was observed between the two scrapes counts
    earlier = delays_histogram([0.3] * 50)
    later = delays_histogram([0.3] * 50 + quick)
    assert bucket_quantile(earlier, later, 0.99)[:2] == (0.001, 0.002)
    assert math.isnan(bucket_quantile(earlier, earlier, 0.99)[1])
    assert bucket_quantile(before, delays_histogram([2.0] * 10), 0.99)[1] == math.inf


def marks_with_hop(extra_ms: float) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    origin = rng.uniform(15.0, 30.0, 400)
    rows = [{"site": "origin", "kind": "arrival", "latency_ms": v} for v in origin]
    rows += [{"site": "edge", "kind": "arrival", "latency_ms": v + extra_ms} for v in origin]
    rows += [{"site": "edge", "kind": "ear", "latency_ms": 500.0}]  # not an arrival mark
    return pd.DataFrame(rows)


def test_the_relay_hop_is_the_edge_probes_p99_over_the_origin_probes() -> None:
    _, _, hop = relay_hop_ms(marks_with_hop(1.0))
    assert hop == pytest.approx(1.0)
    origin, edge, hop = relay_hop_ms(marks_with_hop(12.0))
    assert hop == pytest.approx(12.0) and edge > origin
    marks = marks_with_hop(0.0)
    assert math.isnan(relay_hop_ms(marks[marks["site"] == "origin"])[2])


def fanout_rows() -> pd.DataFrame:
    """Direct at 1,000 listeners per core, the edge at 800 (1.25x the cost)."""
    rows = []
    for design, per_core in (("direct", 1000.0), ("edge", 800.0)):
        for listeners in (3, 103, 203):
            rows.append(
                {
                    "design": design,
                    "listeners": listeners,
                    "seconds": 10.0,
                    "packets_sent": 500.0 * listeners,
                    "server_cores": 0.05 + listeners / per_core,
                    "saturated": False,
                    "loadgen_lag_p99_ms": 5.0,
                }
            )
    return pd.DataFrame(rows)


def relay_table(us_per_edge: float) -> pd.DataFrame:
    edges = np.array([1, 9, 17, 33])
    return pd.DataFrame({"edges": edges, "extra_median_us": us_per_edge * (edges - 1)})


def test_relay_cost_is_counted_in_direct_listeners_and_becomes_a_placement_limit(
    tmp_path: Path,
) -> None:
    # 1,000 listeners per core: a listener costs 20 us a tick; an edge 10 us, half of one
    figures = relay_figures(relay_table(10.0), 1000.0)
    assert figures["relay_listener_equivalents"] == pytest.approx(0.5)
    assert figures["relay_core_pct_per_edge"] == pytest.approx(0.05)
    limits, sources, extra = capacity_limits(fanout_rows(), relay_table(10.0))
    assert limits.listeners_per_worker == pytest.approx(1000.0)
    assert limits.relay_cost_per_edge == pytest.approx(0.5)
    assert limits.room_cost == PlacementLimits().room_cost
    assert sources["listeners_per_worker"].startswith("measured")
    assert sources["room_cost"].startswith("default")
    assert extra["edge_listeners_per_core_fit"] == pytest.approx(800.0)
    target = tmp_path / LIMITS_FILE
    target.write_text(json.dumps({"limits": limits.__dict__}))
    assert PlacementLimits(**json.loads(target.read_text())["limits"]) == limits


def test_the_summary_fails_a_slow_relay_and_a_costly_edge() -> None:
    outcomes = pd.DataFrame([{"workers": 0, "largest": 500}, {"workers": 2, "largest": 600}])
    marks = marks_with_hop(12.0).assign(design="edge")
    delay = (0.005, 0.01, 1000.0)
    summary = summarise(fanout_rows(), marks, delay, outcomes, relay_table(10.0))
    met = dict(zip(summary["figure"], summary["met"], strict=True))
    value = dict(zip(summary["figure"], summary["value"], strict=True))
    assert value["edge_over_direct"] == pytest.approx(1.25) and met["edge_over_direct"] is False
    assert met["relay_hop_p99_ms"] is False and met["relay_delay_p99_ms"] is False
    assert value["room_ratio"] == pytest.approx(1.2) and met["room_ratio"] is False
    quick = summarise(
        fanout_rows(), marks_with_hop(1.0).assign(design="edge"), (0.001, 0.002, 1e3),
        outcomes.assign(largest=[500, 900]), relay_table(10.0),
    )  # fmt: skip
    met = dict(zip(quick["figure"], quick["met"], strict=True))
    assert met["relay_hop_p99_ms"] and met["relay_delay_p99_ms"] and met["room_ratio"]


def test_the_room_ramp_reports_what_the_cores_allow_a_load_generator_as_costly_as_the_server(
) -> None:
    outcomes = pd.DataFrame([{"workers": 0, "largest": 500}, {"workers": 2, "largest": 600}])
    window = {"loss_pct": 0.0, "arrival_p99_ms": 30.0}
    rooms = pd.DataFrame([
        {"workers": 0, "listeners": 500, "server_cores_total": 0.9, "loadgen_cores": 0.8, **window},
        {"workers": 2, "listeners": 300, "server_cores_total": 0.3, "loadgen_cores": 0.3, **window},
        # 1 ms of server and 1 ms of load generator per listener-second: 2 cores carry 1,000
        {"workers": 2, "listeners": 600, "server_cores_total": 0.6, "loadgen_cores": 0.6,
         "loss_pct": 0.0, "arrival_p99_ms": 1400.0},  # carried, late: the summary says how late
        {"workers": 2, "listeners": 700, "server_cores_total": 0.7, "loadgen_cores": 0.9,
         "loss_pct": 3.0},  # past the loss target: not the ramp's largest step
    ])  # fmt: skip
    marks = marks_with_hop(1.0).assign(design="edge")
    summary = summarise(fanout_rows(), marks, (0.001, 0.002, 1e3), outcomes, relay_table(10.0),
                        rooms, 2)
    value = dict(zip(summary["figure"], summary["value"], strict=True))
    assert value["room_loadgen_per_server_core"] == pytest.approx(1.0)
    assert value["room_ratio_bound"] == pytest.approx(1000 / 500)
    assert value["room_one_process_arrival_p99_ms"] == 30.0
    assert value["room_two_workers_arrival_p99_ms"] == 1400.0
    cheap = rooms.assign(loadgen_cores=rooms["loadgen_cores"] / 4)
    summary = summarise(fanout_rows(), marks, (0.001, 0.002, 1e3), outcomes, relay_table(10.0),
                        cheap, 2)
    value = dict(zip(summary["figure"], summary["value"], strict=True))
    assert value["room_ratio_bound"] == pytest.approx(2 / (0.75 / 600) / 500)
    without = summarise(fanout_rows(), marks, (0.001, 0.002, 1e3), outcomes, relay_table(10.0))
    assert without.set_index("figure")["value"].isna()["room_ratio_bound"]


def test_a_room_step_served_late_is_not_carried() -> None:
    """A saturated server keeps delivering, later and later: 12-03's one-process ramps
    "carried" rooms at p99 1.5-3.4 s on loss alone. A late window (after the ramp's second
    look) stops the ramp below it; a load generator behind makes the count a floor instead."""
    well = {"listeners": 900, "speakers_heard": 3, "loss_pct": 0.1, "arrival_p99_ms": 60.0,
            "loadgen_lag_p99_ms": 20.0, "drops_so_far": 0.0}
    assert step_fault(well, 3) == (None, True)
    late, carried = step_fault({**well, "arrival_p99_ms": 3358.0}, 3)
    assert late is not None and "arrival p99 3358 ms at 900" in late and not carried
    assert step_fault({**well, "arrival_p99_ms": 150.0}, 3) == (None, True)  # at the bound
    lost, carried = step_fault({**well, "speakers_heard": 2, "arrival_p99_ms": 3358.0}, 3)
    assert lost is not None and "lost its speakers" in lost and not carried
    lossy, carried = step_fault({**well, "loss_pct": 0.5}, 3)
    assert lossy == "loss 0.50% at 900" and not carried
    behind, carried = step_fault({**well, "arrival_p99_ms": 400.0,
                                  "loadgen_lag_p99_ms": 180.0}, 3)
    assert behind is not None and "a floor" in behind and carried
    # a second window is worth it only when lateness is the window's one fault
    assert _only_late({**well, "arrival_p99_ms": 400.0}, 3)
    assert not _only_late(well, 3)
    assert not _only_late({**well, "arrival_p99_ms": 400.0, "speakers_heard": 2}, 3)
    assert not _only_late({**well, "arrival_p99_ms": 400.0, "loadgen_lag_p99_ms": 180.0}, 3)


def test_the_room_ramp_runs_its_workers_at_the_capacity_this_run_measured() -> None:
    def window(listeners: int, per_core: float) -> dict[str, float | str]:
        return {"design": "direct", "listeners": listeners, "seconds": 10.0,
                "packets_sent": 500.0 * listeners, "server_cores": 0.05 + listeners / per_core,
                "server_rss_mb": 100.0, "late_ticks": 0, "ticks": 500,
                "tick_shortfall_pct": 0.0, "loss_pct": 0.0}  # fmt: skip

    relay = relay_table(10.0)
    assert ramp_worker_listeners([window(n, 931.0) for n in (3, 100, 200, 300)], relay) == 931.0
    limits = PlacementLimits()
    floor = limits.least_worker_listeners
    assert ramp_worker_listeners([window(n, 50.0) for n in (3, 10, 20)], relay) == floor
    assert ramp_worker_listeners([window(3, 931.0)], relay) == limits.listeners_per_worker


def test_the_room_ramp_shares_the_machine_with_its_load_generator() -> None:
    def step(listeners: int, server: float, loadgen: float, loss: float = 0.0) -> dict[str, Any]:
        return {"workers": 0, "listeners": listeners, "server_cores_total": server,
                "loadgen_cores": loadgen, "loss_pct": loss}

    # one process carried 1000 listeners on 0.9 cores beside a 0.4-core load generator: two
    # cores hold 2 / 0.0013 = 1538 listeners at that cost, 769 a worker. At 1200 the room lost
    # its speakers (nothing heard, so no loss counted): not a carried step, not the cost.
    ramp = pd.DataFrame(
        [step(500, 0.5, 0.25), step(1000, 0.9, 0.4), step(1200, 0.95, 0.3)])
    assert origin_share_listeners(ramp, 1000, 2, 2, 1015.0) == 769
    assert origin_share_listeners(ramp, 1000, 4, 2, 1015.0) == 1015.0  # a whole core at most
    assert origin_share_listeners(pd.DataFrame([]), 0, 2, 2, 1015.0) == 1015.0
    assert origin_share_listeners(ramp, 0, 2, 2, 1015.0) == 1015.0  # nothing carried
    assert origin_share_listeners(pd.DataFrame([step(1000, 30.0, 10.0)]), 1000, 2, 2,
                                   1015.0) == PlacementLimits().least_worker_listeners
    # the edges keep a whole core; the origin is held to its share by its headroom
    assert origin_headroom_for(769, 1015.0) == 246.0
    assert origin_headroom_for(1015.0, 1015.0) == 0.0


def test_the_front_metrics_name_each_workers_pid_and_load() -> None:
    metrics = Metrics(lambda: (0, {}))
    metrics.watch_fleet(
        lambda: [
            ("n:0", 101, {"listeners": 5, "rooms": 1, "edges": 0, "relays": 1}),
            ("n:1", 102, {"listeners": 40, "rooms": 0, "edges": 1, "relays": 0}),
        ]
    )
    found = workers_of(metrics.render().decode())
    assert {w: (v.pid, v.load["listeners"]) for w, v in found.items()} == {
        "n:0": (101, 5.0),
        "n:1": (102, 40.0),
    }
    assert found["n:1"].load["edges"] == 1.0


def test_the_relay_micro_benchmark_sends_every_link_and_times_each_count() -> None:
    table = asyncio.run(relay_tick_costs([1, 5], 20, Settings()))
    assert list(table["edges"]) == [1, 5] and (table["ticks"] == 20).all()
    assert table["relayed_share"].iloc[0] == 1.0
    assert table["extra_median_us"].iloc[0] == 0.0
    assert math.isfinite(relay_slope_us(table))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_quick_cascade_run_writes_every_figure(tmp_path: Path) -> None:
    """The whole benchmark, small: two servers of each kind, real peers (a few minutes on a
    busy 2-core machine). Loss and saturation depend on the machine; the plumbing does not."""
    from spaces_lab.cli import main

    out = tmp_path / "cascade"
    assert main(["bench", "cascade", "--quick", "--out", str(out)]) == 0
    manifest = read_manifest(out)
    assert manifest["kind"] == "bench-cascade"
    for table in ("fanout", "latency", "relay_delay", "room_ramp", "room_largest",
                  "relay_cost", "summary", "placement_limits"):  # fmt: skip
        assert table in manifest["tables"], table
    fanout = read_table(out, "fanout")
    for design in ("direct", "edge"):
        rows = fanout[fanout["design"] == design]
        assert len(rows) >= 2, design
        # the metered process (the edge worker by its pid) used CPU and sent the packets
        last = rows.iloc[-1]
        assert last["server_cores"] > 0 and last["packets_sent"] > 0, design
        assert 0 < last["us_per_listener_packet"] < 10_000, design
    latency = read_table(out, "latency")
    assert {"origin", "edge", "single"} <= set(latency["site"])
    figures = read_table(out, "summary").set_index("figure")["value"]
    for key in ("relay_hop_p99_ms", "relay_delay_p99_ms", "relay_us_per_edge",
                "room_one_process", "room_two_workers", "relay_delay_observations"):  # fmt: skip
        assert math.isfinite(figures[key]), key
    assert figures["relay_delay_observations"] > 50
    largest = read_table(out, "room_largest")
    assert list(largest["workers"]) == [0, 2]
    limits = json.loads((out / LIMITS_FILE).read_text())
    assert PlacementLimits(**limits["limits"]).listeners_per_worker > 0
    assert set(limits["sources"]) == set(limits["limits"])


def test_bench_mixer_prints_the_newest_cascade_runs_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    print_latest_cascade(tmp_path)
    assert "no `spaces-lab bench cascade` run" in capsys.readouterr().out
    run = tmp_path / "bench-cascade-20261202-000000"
    run.mkdir()
    writer = RunWriter(run, kind="bench-cascade", parameters={})
    writer.write_table("summary", relay_rows(relay_table(10.0), 1000.0))
    writer.finish()
    print_latest_cascade(tmp_path)
    out = capsys.readouterr().out
    assert str(run) in out and "not measured in this run" in out
    assert "relay: one edge in direct listeners (fit)" in out and "0.500" in out


def test_a_fit_of_saturated_points_only_says_so() -> None:
    rows = fanout_rows()
    fit, points, included = cost_fit(rows, "direct")
    assert fit == pytest.approx(1000.0) and (points, included) == (3, False)
    busy = rows.assign(saturated=[False, True, True] * 2)
    fit, points, included = cost_fit(busy, "edge")
    assert fit == pytest.approx(800.0) and (points, included) == (3, True)
    summary = summarise(busy, marks_with_hop(1.0).assign(design="edge"), (0.001, 0.002, 10.0),
                        pd.DataFrame([{"workers": 0, "largest": 1}]), relay_table(1.0))  # fmt: skip
    value = dict(zip(summary["figure"], summary["value"], strict=True))
    assert value["edge_fit_saturated_included"] == 1.0 and value["edge_over_direct"] > 1.2


def test_an_edge_is_saturated_by_its_listeners_loss_not_by_the_origins_late_ticks() -> None:
    rows = fanout_rows().assign(loss_pct=[0.0, 0.0, 0.0, 0.0, 0.2, 3.0])
    rows["saturated"] = True  # what per_listener said from the origin's late ticks
    out = edge_saturation(rows)
    assert list(out["saturated"]) == [True] * 3 + [False, False, True]

"""``spaces-lab bench cascade``: what the origin-to-edge cascade costs and what it buys.

Four measurements, one run:

1. **Edge listeners against single-process ``direct`` ones.** The same listener counts on a
   one-process server (``--workers 0``, metered whole, as ``bench mixer`` does) and on the edge
   worker of a ``--workers 2`` server whose limits keep the room's origin to its speakers and
   probes, so every further listener lands on the edge (metered by the edge worker's pid).
2. **The relay hop's latency.** Probe listeners on the origin and on the edge of that run, in
   the same windows; and the edge's own ``spaces_relay_delay_seconds`` histogram.
3. **The largest room.** One room ramped on one process and on ``--workers 2`` (as ``serve``
   places listeners by default) until a window loses >= 0.5%, a join fails or the load
   generator falls behind; it shares the machine's cores with the server.
4. **Relay cost per edge**, in this process (``relay_cost``).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from media_bench.client.api import ApiClient
from media_bench.client.bench_config import BenchConfig, CascadeConfig
from media_bench.client.cascade_report import (
    LIMITS_FILE,
    TARGETS,
    capacity_limits,
    print_summary,
    room_cores_hold,
    summarise,
)
from media_bench.client.loadgen import (
    Meter,
    Swarm,
    bench_room,
    measure_design,
    measure_window,
    metrics_at,
    our_design,
    scrape,
    server_options,
)
from media_bench.client.our_target import OurRooms
from media_bench.client.quality import ROOM_ARRIVAL_P99_MS
from media_bench.client.relay_cost import relay_tick_costs
from media_bench.client.report import per_listener
from media_bench.client.server_process import ServerProcess
from media_bench.client.worker_meter import (
    WorkerView,
    bucket_quantile,
    histogram_buckets,
    metrics_url,
    workers_of,
)
from media_bench.client.yardstick import codec_reference
from media_bench.server.placement import PlacementLimits
from media_bench.server.settings import Settings
from spaces_core.runfolder import RunWriter, new_run_dir

RELAY_DELAY = "spaces_relay_delay_seconds"
LOADGEN_BEHIND_MS = 100.0
"""Loop lag p99 past which the load generator, not the server, sets the pace: a room ramp
stops there (the count it reached is then a floor of what the server carries)."""
EDGE_SPARE = 100
"""Listener slots the edge run's edge keeps beyond its largest count."""
FULL = "503"
"""A join refused by placement: every worker is full."""
JOINED_ENOUGH = 0.95
"""A room ramp step goes on when this share of its listeners joined (after retries)."""


def _cascade_options(config: BenchConfig, workers: int, *extra: str) -> list[str]:
    return [*server_options("direct", config), "--workers", str(workers), *extra]


def _origin_and_edge(workers: dict[str, WorkerView]) -> tuple[WorkerView, WorkerView | None]:
    """The room's origin (the worker mixing a room) and its edge, if one is open."""
    origin = next(w for w in workers.values() if w.load.get("rooms", 0) >= 1)
    edge = next((w for w in workers.values() if w.load.get("edges", 0) >= 1), None)
    return origin, edge


async def fill(swarm: Swarm, count: int, rate: float, rounds: int = 3) -> int:
    """Add listeners until the room has ``count`` (probes included), retrying failed joins
    for up to ``rounds`` rounds, never past a refusal by placement (503); the failures."""
    failed = swarm.failures
    for _ in range(rounds):
        missing = count - len(swarm.listeners) - len(swarm.probes)
        if missing <= 0 or swarm.errors.get(FULL):
            break
        await swarm.add_many(missing, rate)
    return swarm.failures - failed


def drops_at(front_metrics: str) -> float:
    """Participants the server has dropped so far, every reason."""
    return scrape(front_metrics)["spaces_drops_total"]


def _print_row(label: str, row: dict[str, Any]) -> None:
    print(
        f"  {label:10} {row['listeners']:5d} listeners: metered process "
        f"{row['server_cores']:.2f} cores, loss {row['loss_pct']:.2f}%, arrival p99 "
        f"{row['arrival_p99_ms']:.1f} ms, load generator {row['loadgen_cores']:.2f} cores "
        f"(lag p99 {row['loadgen_lag_p99_ms']:.0f} ms), other processes "
        f"{row['other_cores']:.2f} cores; speakers heard {row['speakers_heard']}, drops "
        f"{row['drops']:.0f}, failed joins {row.get('join_failures', 0)}"
        + (
            f"; relay p99 <= {row['relay_delay_p99_ms']:g} ms"
            if "relay_delay_p99_ms" in row
            else ""
        ),
        flush=True,
    )


async def park_on_origin(api: ApiClient, swarm: Swarm, slots: int, rate: float) -> None:
    """Fill the room's origin to ``slots`` listeners with counting listeners kept out of every
    figure (``Swarm.parked``): the edge run meters the edge."""
    for _ in range(3):
        origin, _ = _origin_and_edge(workers_of(await api.metrics_text()))
        missing = slots - int(origin.load.get("listeners", 0))
        if missing <= 0:
            break
        await swarm.add_many(missing, rate)
    swarm.parked += swarm.listeners
    swarm.listeners = []


async def measure_edge(
    counts: list[int], config: BenchConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], pd.DataFrame]:
    """Ramp the edge worker of a two-worker server through ``counts`` listeners (its own,
    probes included); rows, mark latencies (``site``: origin or edge), and the edge's relay
    delay histogram: by bucket upper bound (``le_s``), the observations within the measured
    windows (as the probes' marks) and over the whole run, joins included."""
    limits = PlacementLimits()
    capacity = max(max(counts) + 2 * config.probes + EDGE_SPARE, 2 * limits.min_edge_slots)
    # After the room and its host the origin keeps the listener slots a room needs to open
    # there (``min_open_slots``) and no more: the guest (seated as a listener, then invited
    # on stage), the origin's probes and counting listeners parked to fill it. Its headroom
    # is everything else, so every later listener goes to the edge.
    origin_slots = max(math.ceil(limits.min_open_slots), 1 + config.probes)
    headroom = capacity - limits.room_cost - limits.speaker_cost - origin_slots
    server = ServerProcess(
        _cascade_options(config, 2, "--worker-listeners", f"{capacity:g}",
                         "--origin-headroom", f"{headroom:g}")
    )  # fmt: skip
    await asyncio.to_thread(server.start)
    rows: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    swarm: Swarm | None = None
    try:
        async with ApiClient(server.url) as api:
            swarm = await bench_room(OurRooms(api), "bench-cascade-edge")
            for _ in range(config.probes):  # the origin's probes
                await swarm.add_listener("full")
            await park_on_origin(api, swarm, origin_slots, config.ramp_rate)
            for _ in range(config.probes):  # the edge's
                await swarm.add_listener("full")
            origin, edge = _origin_and_edge(workers_of(await api.metrics_text()))
            placed = (origin.load.get("listeners"), edge and edge.load.get("listeners"))
            if edge is None or placed != (origin_slots, config.probes):
                raise RuntimeError(
                    f"the edge run's placement is not as planned: origin and edge listeners "
                    f"{placed}, expected {(origin_slots, config.probes)}"
                )
            origin_url, edge_url = metrics_url(origin.pid), metrics_url(edge.pid)
            meter = Meter(edge.pid, edge_url, origin_url, (("origin", origin.pid),))
            sites = ["origin"] * config.probes + ["edge"] * config.probes
            delay0 = histogram_buckets(await metrics_at(api, edge_url), RELAY_DELAY)
            in_windows: dict[float, float] = {}

            async def window(failed: int) -> dict[str, Any]:
                """One window; the relay delays the edge timed within it are kept apart
                from those of the joins between windows."""
                before = histogram_buckets(await metrics_at(api, edge_url), RELAY_DELAY)
                row, found = await measure_window(swarm, config.window, meter, api)
                after = histogram_buckets(await metrics_at(api, edge_url), RELAY_DELAY)
                for bound, count in after.items():
                    in_windows[bound] = in_windows.get(bound, 0.0) + count - before.get(bound, 0)
                row["relay_delay_p99_ms"] = 1000 * bucket_quantile(before, after, 0.99)[1]
                row["listeners"] = len(swarm.listeners) + config.probes  # the edge's own
                row["counting_listeners"] = len(swarm.listeners)
                row["join_failures"] = failed
                now = workers_of(await api.metrics_text())
                row["origin_listeners"] = now[origin.worker_id].load.get("listeners", 0)
                if row["origin_listeners"] > origin_slots:  # a dropped listener's seat
                    print("  (a ramp listener was seated on the origin)", flush=True)
                rows.append({"design": "edge", **row})
                marks.extend(
                    {"design": "edge", "listeners": row["listeners"],
                     "site": sites[m["probe"]], **m}
                    for m in found
                )  # fmt: skip
                _print_row("edge", row)
                return row

            await asyncio.sleep(config.settle)
            await window(0)
            for count in counts:
                # the edge's count, probes of both sites in the room
                failed = await fill(swarm, count + config.probes, config.ramp_rate)
                await asyncio.sleep(config.settle)
                try:
                    await window(failed)
                except TimeoutError:
                    print(f"  edge {count}: the server stopped answering; stopped", flush=True)
                    break
            delay1 = histogram_buckets(await metrics_at(api, edge_url), RELAY_DELAY)
    finally:
        await asyncio.to_thread(server.stop)
        if swarm is not None:
            await swarm.close()
    delay = pd.DataFrame(
        {
            "le_s": list(delay1),
            "observations": [in_windows.get(b, 0.0) for b in delay1],
            "observations_all": [delay1[b] - delay0.get(b, 0.0) for b in delay1],
        }
    )
    return rows, marks, delay


async def largest_room(
    workers: int, steps: list[int], config: BenchConfig, worker_listeners: float,
    origin_headroom: float | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One room ramped through ``steps`` listeners on a server with ``workers`` media workers
    (each holding ``worker_listeners``, the origin ``origin_headroom`` fewer) until a window
    loses >= 0.5%, its probes' mouth-to-arrival p99 is above ``ROOM_ARRIVAL_P99_MS`` in two
    windows running (a saturated server keeps delivering, later and later: counting such a step
    carried made one process look able to carry rooms it served 1.5-3.4 s late), a join fails,
    the server stops answering or the load generator falls behind; the windows and the outcome
    (largest count carried, why it stopped)."""
    extra = ["--worker-listeners", f"{worker_listeners:g}"] if workers else []
    if workers and origin_headroom is not None:
        extra += ["--origin-headroom", f"{origin_headroom:g}"]
    server = ServerProcess(_cascade_options(config, workers, *extra))
    await asyncio.to_thread(server.start)
    label = f"workers={workers}"
    rows: list[dict[str, Any]] = []
    largest, reason = 0, "the largest step was carried"
    swarm: Swarm | None = None
    try:
        async with ApiClient(server.url) as api:
            swarm = await bench_room(OurRooms(api), f"bench-cascade-room-{workers}")
            for _ in range(config.probes):
                await swarm.add_listener("full")
            if workers:
                views = workers_of(await api.metrics_text())
                origin, _ = _origin_and_edge(views)
                url = metrics_url(origin.pid)
                others = tuple((w.worker_id, w.pid) for w in views.values())
                meter = Meter(server.pid, url, url, others)
            else:
                meter = Meter(server.pid)
            drops_start = drops_at(await api.metrics_text())
            for step in steps:
                failed = await fill(swarm, step, config.ramp_rate)
                present = len(swarm.listeners) + len(swarm.probes)
                if present < JOINED_ENOUGH * step:
                    kinds = ", ".join(f"{k} x{n}" for k, n in swarm.errors.items())
                    refused = (
                        "placement refused (every worker full)"
                        if swarm.errors.get(FULL)
                        else "joins kept failing"
                    )
                    reason = f"{refused} at {present} of {step} ({kinds})"
                    break
                await asyncio.sleep(config.settle)
                row = None
                for second in (False, True):
                    row = await _step_window(swarm, config, meter, api, drops_start)
                    if row is None:
                        break
                    row["join_failures"], row["second_window"] = (0 if second else failed), second
                    rows.append({"workers": workers, **row})
                    _print_row(label, row)
                    if second or not _only_late(row, len(swarm.speakers)):
                        break
                    # one window more: a stall of the shared machine spikes one window's p99, a
                    # room the server is too busy to carry stays late
                    print(f"  {label}: p99 above {ROOM_ARRIVAL_P99_MS:g} ms: measuring the "
                          f"step once more", flush=True)
                if row is None:
                    reason = f"the server stopped answering at {step}"
                    break
                fault, carried = step_fault(row, len(swarm.speakers))
                if carried:
                    largest = int(row["listeners"])
                if fault is not None:
                    reason = fault
                    break
    finally:
        await asyncio.to_thread(server.stop)
        if swarm is not None:
            await swarm.close()
    last = rows[-1] if rows else {}
    outcome = {
        "workers": workers,
        "largest": largest,
        "stopped": reason,
        "loadgen_cores_at_stop": last.get("loadgen_cores", math.nan),
        "loadgen_lag_p99_ms_at_stop": last.get("loadgen_lag_p99_ms", math.nan),
        "server_cores_at_stop": last.get("server_cores_total", math.nan),
    }
    print(f"  {label}: largest room carried {largest} ({reason})", flush=True)
    return rows, outcome


async def _step_window(swarm: Swarm, config: BenchConfig, meter: Meter, api: ApiClient,
                       drops_start: float) -> dict[str, Any] | None:
    """One measured window of a room ramp's step (None: the server stopped answering)."""
    try:
        row, _ = await measure_window(swarm, config.window, meter, api)
    except TimeoutError:
        return None
    row["server_cores_total"] = row["server_cores"] + sum(
        row[f"{name}_cores"] for name, _ in meter.also
    )
    row["drops_so_far"] = drops_at(await api.metrics_text()) - drops_start
    loads = workers_of(await api.metrics_text())
    row["placed"] = json.dumps(
        {w.worker_id: int(w.load.get("listeners", 0)) for w in loads.values()}
    )
    return row


def step_fault(row: dict[str, Any], speakers: int) -> tuple[str | None, bool]:
    """Why a room ramp stops at this window (None: it goes on), and whether the step counts as
    carried: a late window counts only when the load generator fell behind (its probes then
    time the load generator, and the count is a floor of what the server carries)."""
    if row["speakers_heard"] < speakers:
        return (f"the room lost its speakers at {row['listeners']} (they stopped hearing their "
                f"mix; drops since the start: {row['drops_so_far']:.0f})"), False
    if not row["loss_pct"] < TARGETS["room_loss_pct"]:
        return f"loss {row['loss_pct']:.2f}% at {row['listeners']}", False
    if row["loadgen_lag_p99_ms"] > LOADGEN_BEHIND_MS:
        return (f"the load generator fell behind at {row['listeners']} (loop lag p99 "
                f"{row['loadgen_lag_p99_ms']:.0f} ms): a floor of what the server carries"), True
    if _late(row):
        return (f"arrival p99 {row['arrival_p99_ms']:.0f} ms at {row['listeners']} "
                f"(> {ROOM_ARRIVAL_P99_MS:g} ms, in two windows running)"), False
    return None, True


def _late(row: dict[str, Any]) -> bool:
    return bool(row["arrival_p99_ms"] > ROOM_ARRIVAL_P99_MS)


def _only_late(row: dict[str, Any], speakers: int) -> bool:
    """The window's one fault is lateness: worth a second window."""
    on_time = {**row, "arrival_p99_ms": 0.0}
    return _late(row) and step_fault(on_time, speakers)[0] is None


def ramp_worker_listeners(direct_rows: list[dict[str, Any]], relay: pd.DataFrame) -> float:
    """The worker capacity the ``--workers 2`` room ramp runs with: the capacity plan's
    ``listeners_per_worker`` from this run's ``direct`` windows (``capacity_limits``: the
    fit, or the default when it has too few points), at least what a room and an edge need
    to open."""
    fanout = edge_saturation(per_listener(pd.DataFrame(direct_rows)))
    limits, _, _ = capacity_limits(fanout, relay)
    return max(limits.least_worker_listeners, limits.listeners_per_worker)


def origin_share_listeners(rooms: pd.DataFrame, largest: float, cores: int | None,
                            workers: int, whole_core: float) -> float:
    """The listeners the ``--workers`` room ramp's origin takes on a machine it shares with the
    load generator: the room the cores hold at the one-process ramp's CPU per listener
    (``room_cores_hold``: server and load generator, at its ``largest`` carried room), split
    over the workers, and no more than a whole core's ``whole_core``. An origin filled to a
    whole core saturates while the edge sits nearly empty (12-03: both ramps stopped at
    ~1,000); every worker sized to this share caps the room at the estimate itself (12-03
    evening: placement full at 1,363 and 1,393 with the room well), so the edges keep a whole
    core and the origin holds its share by its headroom (``origin_headroom_for``)."""
    held, _ = room_cores_hold(rooms, 0, largest, cores)
    if not held > 0 or workers < 1:
        return whole_core
    least = PlacementLimits().least_worker_listeners
    return float(max(least, min(whole_core, round(held / workers))))


def origin_headroom_for(origin_share: float, whole_core: float) -> float:
    """The ``--origin-headroom`` that leaves an origin of ``whole_core`` listeners about
    ``origin_share`` of them."""
    return max(0.0, whole_core - origin_share)


def edge_saturation(fanout: pd.DataFrame) -> pd.DataFrame:
    """An edge has no clock of its own: it fell behind when its listeners lost packets. The
    origin's late ticks (kept in the rows) are what the rest of the machine did to the
    origin, not the edge's load."""
    edge = fanout["design"] == "edge"
    fanout.loc[edge, "saturated"] = fanout.loc[edge, "loss_pct"] > TARGETS["room_loss_pct"]
    return fanout


def run_cascade(config: CascadeConfig, out: Path | None) -> Path:
    bench = config.bench
    path = new_run_dir("bench-cascade", out)
    writer = RunWriter(path, kind="bench-cascade", parameters=asdict(config), seed=bench.seed)
    reference = codec_reference()
    print(
        f"machine yardstick: Opus encode {reference['opus_encode_c0_us']:.0f} / "
        f"{reference['opus_encode_c5_us']:.0f} us per frame (complexity 0 / 5)",
        flush=True,
    )
    began = time.monotonic()
    print(f"relay cost: an origin's tick with {config.relay_edges} edges ...", flush=True)
    settings = Settings(
        bitrate=bench.bitrate,
        complexity=bench.complexity,
        speaker_complexity=bench.speaker_complexity,
    )
    relay = asyncio.run(relay_tick_costs(config.relay_edges, config.relay_ticks, settings))
    writer.timings["relay_cost"] = time.monotonic() - began

    async def load_runs() -> dict[str, Any]:
        found: dict[str, Any] = {}
        print("direct, one process (--workers 0) ...", flush=True)
        direct_rows, _, direct_marks = await measure_design(
            our_design("direct", bench), "direct", bench.listeners, bench, 0
        )
        print("edge worker of --workers 2 (the origin holds speakers and probes) ...", flush=True)
        edge_rows, edge_marks, delay = await measure_edge(bench.listeners, bench)
        found["fanout"] = direct_rows + edge_rows
        found["marks"] = [{"site": "single", **m} for m in direct_marks] + edge_marks
        found["delay"] = delay
        whole_core = ramp_worker_listeners(direct_rows, relay)
        room_rows: list[dict[str, Any]] = []
        outcomes: list[dict[str, Any]] = []
        for workers in (0, 2):
            print(f"one room, --workers {workers}: ramp until loss >= 0.5% ...", flush=True)
            worker_listeners = whole_core  # --workers 0 has no workers to size
            headroom: float | None = None
            if workers and config.room_worker_listeners:
                worker_listeners = config.room_worker_listeners
                found["room_worker_listeners"] = worker_listeners
                print(f"  each worker holds up to {worker_listeners:g} listeners", flush=True)
            elif workers:
                share = origin_share_listeners(
                    pd.DataFrame(room_rows), outcomes[0]["largest"], os.cpu_count(), workers,
                    whole_core)
                headroom = origin_headroom_for(share, whole_core)
                found["room_worker_listeners"] = worker_listeners
                found["room_origin_listeners"] = share
                print(f"  each worker holds up to {worker_listeners:g} listeners, the origin "
                      f"~{share:g} (headroom {headroom:g})", flush=True)
            rows, outcome = await largest_room(workers, config.room_steps, bench, worker_listeners,
                                               headroom)
            room_rows += rows
            outcomes.append(outcome)
        found["rooms"], found["outcomes"] = room_rows, outcomes
        return found

    began = time.monotonic()
    runs = asyncio.run(load_runs())
    writer.timings["load_runs"] = time.monotonic() - began
    fanout = edge_saturation(per_listener(pd.DataFrame(runs["fanout"])))
    marks = pd.DataFrame(runs["marks"])
    marks = marks[["design", "listeners", "site", "probe", "kind", "latency_ms"]]
    delay: pd.DataFrame = runs["delay"]
    rooms = pd.DataFrame(runs["rooms"])
    outcomes = pd.DataFrame(runs["outcomes"])
    delay_q = bucket_quantile(
        {}, dict(zip(delay["le_s"], delay["observations"], strict=True)), 0.99
    )
    summary = summarise(fanout, marks, delay_q, outcomes, relay, rooms, os.cpu_count())
    limits, sources, extra = capacity_limits(fanout, relay)
    limits_table = pd.DataFrame(
        [{"field": k, "value": v, "source": sources[k]} for k, v in asdict(limits).items()]
    )
    writer.write_table("fanout", fanout)
    writer.write_table("latency", marks)
    writer.write_table("relay_delay", delay)
    writer.write_table("room_ramp", rooms)
    writer.write_table("room_largest", outcomes)
    writer.write_table("relay_cost", relay)
    writer.write_table("summary", summary)
    writer.write_table("placement_limits", limits_table)
    (path / LIMITS_FILE).write_text(
        json.dumps({"limits": asdict(limits), "sources": sources, **extra}, indent=2, default=str)
        + "\n"
    )
    writer.extra["targets"] = TARGETS
    writer.extra["room_worker_listeners"] = runs["room_worker_listeners"]
    writer.extra["room_origin_listeners"] = runs.get("room_origin_listeners")
    writer.extra["machine_yardstick"] = reference
    writer.extra["placement_limits_file"] = LIMITS_FILE
    writer.finish()
    print_summary(fanout, outcomes, relay, summary, limits, sources, extra)
    print(f"\nrun folder: {path}")
    return path

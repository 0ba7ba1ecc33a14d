"""Figures of ``spaces-lab bench cascade`` from its raw tables, the issue's targets, the
placement limits they imply, and the printed summary."""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from media_bench.client.relay_cost import relay_slope_us
from media_bench.client.report import PACKETS_PER_SECOND, fitted_listeners_per_core
from media_bench.server.metrics import RELAY_BUCKETS
from media_bench.server.placement import PlacementLimits
from spaces_core.runfolder import DEFAULT_RUNS_DIR, latest_run, read_manifest, read_table

TARGETS = {
    "edge_over_direct": 1.05,
    "relay_hop_p99_ms": 5.0,
    "relay_delay_p99_ms": 5.0,
    "room_ratio": 1.6,
    "room_loss_pct": 0.5,
}
LIMITS_FILE = "placement_limits.json"
"""The run folder's placement limits: ``{"limits": PlacementLimits fields, "sources": field ->
where its value comes from, ...}``; ``PlacementLimits(**doc["limits"])`` rebuilds them."""
TICK_US = 1e6 / PACKETS_PER_SECOND
RELAY_BUCKETS_MS = [1000 * bound for bound in RELAY_BUCKETS]
"""The edge's relay delay histogram resolution: its p99 is known to within one bucket."""


def relay_hop_ms(marks: pd.DataFrame, q: float = 99.0) -> tuple[float, float, float]:
    """(origin, edge, edge - origin) ``q``-th percentile of the mouth-to-arrival latency of
    the probes on the origin and on the edge (``site`` column), over the same windows: what
    the relay hop adds. NaN when either site has no marks."""
    arrival = marks[marks["kind"] == "arrival"]

    def at(site: str) -> float:
        values = arrival.loc[arrival["site"] == site, "latency_ms"]
        return float(np.percentile(values, q)) if len(values) else math.nan

    origin, edge = at("origin"), at("edge")
    return origin, edge, edge - origin


def cost_fit(fanout: pd.DataFrame, design: str) -> tuple[float, int, bool]:
    """A design's listeners per core (fit of its CPU against packets sent), the points fitted
    and whether saturated points had to be included (fewer than two were not): on a busy
    machine every window may show late ticks, and CPU per packet actually sent still holds."""
    rows = fanout[fanout["design"] == design]
    healthy = int((~rows["saturated"].astype(bool)).sum())
    if healthy >= 2:
        return fitted_listeners_per_core(fanout, design), healthy, False
    return fitted_listeners_per_core(rows.assign(saturated=False), design), len(rows), True


def listener_us(listeners_per_core: float) -> float:
    """CPU microseconds one listener costs per 20 ms tick at that many listeners per core."""
    return TICK_US / listeners_per_core if listeners_per_core > 0 else math.nan


def relay_figures(relay: pd.DataFrame, direct_fit: float) -> dict[str, float]:
    """An edge's cost to its origin: us per tick, % of a core, and in direct listeners."""
    us = relay_slope_us(relay)
    return {
        "relay_us_per_edge": us,
        "relay_core_pct_per_edge": 100 * us / TICK_US,
        "relay_listener_equivalents": us / listener_us(direct_fit),
    }


def capacity_limits(
    fanout: pd.DataFrame, relay: pd.DataFrame
) -> tuple[PlacementLimits, dict[str, str], dict[str, Any]]:
    """The placement limits this run measured (the rest kept at their defaults), where each
    value comes from, and the figures beside them (edge fit, the deepest cascade)."""
    defaults = PlacementLimits()
    direct_fit, _, direct_all = cost_fit(fanout, "direct")
    edge_fit, _, _ = cost_fit(fanout, "edge")
    relay_le = relay_figures(relay, direct_fit)["relay_listener_equivalents"]
    limits, sources = defaults, {k: "default (PlacementLimits)" for k in asdict(defaults)}
    if math.isfinite(direct_fit) and direct_fit > 0:
        limits = replace(limits, listeners_per_worker=round(direct_fit, 1))
        sources["listeners_per_worker"] = "measured: direct listeners per core (fit" + (
            ", saturated points included)" if direct_all else ")"
        )
    if math.isfinite(relay_le) and relay_le > 0:
        limits = replace(limits, relay_cost_per_edge=round(relay_le, 3))
        sources["relay_cost_per_edge"] = "measured: origin tick CPU per edge / direct listener"
    extra = {
        "edge_listeners_per_core_fit": edge_fit,
        "direct_listeners_per_core_fit": direct_fit,
        "max_edges_per_origin": limits.max_edges_per_origin,
    }
    return limits, sources, extra


def summarise(
    fanout: pd.DataFrame,
    marks: pd.DataFrame,
    delay: tuple[float, float, float],
    outcomes: pd.DataFrame,
    relay: pd.DataFrame,
    rooms: pd.DataFrame | None = None,
    cores: int | None = None,
) -> pd.DataFrame:
    """One row per figure, with its target where the issue sets one. ``delay``: the edge's
    relay delay p99 bucket (lower and upper bound, seconds; observations). ``rooms``: the
    one-room ramps' windows, for what the machine's ``cores`` allow the ``--workers 2`` ramp
    (``room_ratio_bound``)."""
    direct_fit, direct_points, direct_all = cost_fit(fanout, "direct")
    edge_fit, edge_points, edge_all = cost_fit(fanout, "edge")
    origin_p99, edge_p99, hop = relay_hop_ms(marks[marks["design"] == "edge"])
    low, high, observed = delay
    largest = {int(r["workers"]): float(r["largest"]) for r in outcomes.to_dict("records")}
    one, two = largest.get(0, math.nan), largest.get(2, math.nan)
    relay_fig = relay_figures(relay, direct_fit)
    edge_rows = fanout[fanout["design"] == "edge"]
    loadgen_share, bound = room_ratio_bound(rooms, one, two, cores)
    figures: list[tuple[str, str, float, str]] = [
        ("direct_listeners_per_core_fit", "direct, one process: listeners per core (fit)",
         direct_fit, ""),
        ("edge_listeners_per_core_fit", "edge worker: listeners per core (fit)", edge_fit, ""),
        ("direct_fit_points", "  direct fit: points",
         float(direct_points), ""),
        ("direct_fit_saturated_included", "  direct fit: saturated points included",
         float(direct_all), ""),
        ("edge_fit_points", "  edge fit: points", float(edge_points), ""),
        ("edge_fit_saturated_included", "  edge fit: saturated points included",
         float(edge_all), ""),
        ("direct_us_per_listener", "direct: CPU per listener per tick (us)",
         listener_us(direct_fit), ""),
        ("edge_us_per_listener", "edge: CPU per listener per tick (us)",
         listener_us(edge_fit), ""),
        ("edge_over_direct", "edge / direct CPU per listener (fits)",
         direct_fit / edge_fit if edge_fit else math.nan, "<="),
        ("origin_arrival_p99_ms", "mouth-to-arrival p99, probes on the origin (ms)",
         origin_p99, ""),
        ("edge_arrival_p99_ms", "mouth-to-arrival p99, probes on the edge (ms)", edge_p99, ""),
        ("relay_hop_p99_ms", "relay hop: edge p99 - origin p99 (ms)", hop, "<="),
        ("relay_delay_p99_ms", "edge's relay delay histogram p99, bucket upper bound (ms)",
         1000 * high, "<="),
        ("relay_delay_p99_low_ms", "  ... that bucket's lower bound (ms)", 1000 * low, ""),
        ("relay_delay_observations", "  ... listener mixes the edge timed", observed, ""),
        ("edge_loadgen_lag_max_ms", "edge run: load generator loop lag p99, worst window (ms)",
         float(edge_rows["loadgen_lag_p99_ms"].max()) if len(edge_rows) else math.nan, ""),
        ("room_one_process", "largest room carried (< 0.5% loss, p99 in bound), --workers 0",
         one, ""),
        ("room_one_process_arrival_p99_ms", "  probes' mouth-to-arrival p99 there (ms)",
         room_arrival_p99(rooms, 0, one), ""),
        ("room_two_workers", "largest room carried (< 0.5% loss, p99 in bound), --workers 2",
         two, ""),
        ("room_two_workers_arrival_p99_ms", "  probes' mouth-to-arrival p99 there (ms)",
         room_arrival_p99(rooms, 2, two), ""),
        ("room_ratio", "largest room, --workers 2 / --workers 0",
         two / one if one else math.nan, ">="),
        ("room_loadgen_per_server_core",
         "  --workers 2 ramp: load generator cores per server core (largest step)",
         loadgen_share, ""),
        ("room_ratio_bound",
         "  ... ratio the machine's cores allow at that CPU per listener (upper bound)",
         bound, ""),
        ("relay_us_per_edge", "relay: origin tick CPU per edge (us)",
         relay_fig["relay_us_per_edge"], ""),
        ("relay_core_pct_per_edge", "relay: % of a core per edge",
         relay_fig["relay_core_pct_per_edge"], ""),
        ("relay_listener_equivalents", "relay: one edge in direct listeners",
         relay_fig["relay_listener_equivalents"], ""),
    ]  # fmt: skip
    return figure_rows(figures)


def room_arrival_p99(rooms: pd.DataFrame | None, workers: int, largest: float) -> float:
    """The probes' mouth-to-arrival p99 in the ramp's window at its largest room: loss alone
    says the room was carried, this says how late (an origin falling behind queues first)."""
    if rooms is None or rooms.empty or not math.isfinite(largest):
        return math.nan
    at = rooms[(rooms["workers"] == workers) & (rooms["listeners"] == largest)]
    return float(at["arrival_p99_ms"].iloc[-1]) if len(at) else math.nan


def room_cores_hold(rooms: pd.DataFrame | None, workers: int, largest: float,
                    cores: int | None) -> tuple[float, float]:
    """At the ``workers`` ramp's ``largest`` carried step: the listeners the machine's
    ``cores`` would hold if server and load generator kept that step's summed CPU per listener
    to the last core, and the load generator's cores per server core there. Not the last step
    under the loss target: a room that lost its speakers counts no loss (12-03: the one-process
    ramp's failed step at 1,000 sized the workers' share, and the origin saturated)."""
    if rooms is None or rooms.empty or not cores or not math.isfinite(largest):
        return math.nan, math.nan
    at = rooms[(rooms["workers"] == workers) & (rooms["listeners"] == largest)]
    if at.empty:
        return math.nan, math.nan
    last = at.iloc[-1]
    server, loadgen = float(last["server_cores_total"]), float(last["loadgen_cores"])
    per_listener = (server + loadgen) / float(last["listeners"])
    share = loadgen / server if server > 0 else math.nan
    return (cores / per_listener if per_listener > 0 else math.nan), share


def room_ratio_bound(
    rooms: pd.DataFrame | None, one: float, two: float, cores: int | None
) -> tuple[float, float]:
    """The ``--workers 2`` ramp's load generator cores per server core at its largest room
    ``two``, and the largest-room ratio the machine's ``cores`` would allow at that step's CPU
    per listener (``room_cores_hold``) over ``one`` (the one-process room).
    The server and the load generator share the cores, so a load generator as costly per
    listener as the server caps the ratio near ``cores / 2`` whatever the server does."""
    held, share = room_cores_hold(rooms, 2, two, cores)
    return share, held / one if one else math.nan


Figure = tuple[str, str, float, str]
"""(key, label, value, sense): sense ``<=`` or ``>=`` when the issue sets a target."""


def figure_rows(figures: list[Figure]) -> pd.DataFrame:
    """The summary table: figure, label, value, target, met (None without a target)."""
    rows = []
    for key, label, value, sense in figures:
        target = TARGETS.get(key) if sense else None
        met = None
        if target is not None and math.isfinite(value):
            met = value <= target if sense == "<=" else value >= target
        rows.append({"figure": key, "label": label, "value": value, "target": target, "met": met})
    return pd.DataFrame(rows)


def relay_rows(relay: pd.DataFrame, direct_fit: float) -> pd.DataFrame:
    """The relay cost figures alone, as ``bench mixer`` adds them to its summary."""
    figures = relay_figures(relay, direct_fit)
    return figure_rows(
        [
            ("relay_us_per_edge", "relay: origin tick CPU per edge (us)",
             figures["relay_us_per_edge"], ""),
            ("relay_core_pct_per_edge", "relay: % of a core per edge",
             figures["relay_core_pct_per_edge"], ""),
            ("relay_listener_equivalents", "relay: one edge in direct listeners (fit)",
             figures["relay_listener_equivalents"], ""),
        ]
    )  # fmt: skip


def print_latest_cascade(runs_dir: Path = DEFAULT_RUNS_DIR) -> None:
    """The cascade figures of the newest ``bench cascade`` run under ``runs_dir``, if any:
    ``bench mixer`` prints them beside its own (they were measured in that run, not this)."""
    run = latest_run("bench-cascade", runs_dir)
    if run is None:
        print(f"\nCascade figures: no `spaces-lab bench cascade` run under {runs_dir} yet")
        return
    try:
        summary = read_table(run, "summary")
    except (KeyError, OSError, ValueError) as error:
        print(f"\nCascade figures: {run} unreadable ({error})")
        return
    when = read_manifest(run).get("created_utc", "?")
    print(f"\nCascade figures, from {run} ({when}; not measured in this run):")
    _print_figures(summary)


def _print_figures(summary: pd.DataFrame) -> None:
    for r in summary.to_dict("records"):
        target = "" if r["target"] is None or pd.isna(r["target"]) else f"target {r['target']:g}"
        met = r["met"]
        verdict = "" if met is None or pd.isna(met) else ("PASS" if met else "FAIL")
        print(f"  {r['label']:58} {r['value']:10.3f}  {target:12} {verdict}")


def print_summary(
    fanout: pd.DataFrame,
    outcomes: pd.DataFrame,
    relay: pd.DataFrame,
    summary: pd.DataFrame,
    limits: PlacementLimits,
    sources: dict[str, str],
    extra: dict[str, Any],
) -> None:
    columns = [
        "design", "listeners", "server_cores", "us_per_listener_packet", "listeners_per_core",
        "loss_pct", "arrival_p99_ms", "relay_delay_p99_ms", "loadgen_cores",
        "loadgen_lag_p99_ms", "other_cores", "speakers_heard", "saturated",
    ]  # fmt: skip
    print("\nCPU per listener: one process (direct) vs the edge worker (metered by its pid):")
    print(
        fanout[[c for c in columns if c in fanout]].to_string(
            index=False, float_format=lambda v: f"{v:.3g}"
        )
    )
    print("\nRelay cost: origin tick CPU (us) by edges fed:")
    print(relay.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("\nLargest single room (server and load generator share this machine's cores):")
    for r in outcomes.to_dict("records"):
        print(
            f"  --workers {r['workers']}: {r['largest']} listeners; stopped: {r['stopped']}; "
            f"there the server used {r['server_cores_at_stop']:.2f} cores, the load generator "
            f"{r['loadgen_cores_at_stop']:.2f} (loop lag p99 "
            f"{r['loadgen_lag_p99_ms_at_stop']:.0f} ms)"
        )
    print(f"\nRelay delay histogram buckets (ms): {', '.join(f'{b:g}' for b in RELAY_BUCKETS_MS)}")
    print("\nCascade figures:")
    _print_figures(summary)
    values = {r["figure"]: r["value"] for r in summary.to_dict("records")}
    relay_le = values["relay_listener_equivalents"]
    assumed = PlacementLimits().relay_cost_per_edge
    print(
        f"\nRelay cost implies: one edge costs its origin {relay_le:.2f} direct listeners "
        f"(placement assumes {assumed:g}); an origin feeding 64 edges spends "
        f"{64 * values['relay_core_pct_per_edge']:.1f}% of a core on relaying; with these "
        f"limits one origin feeds at most {extra['max_edges_per_origin']} edges "
        f"(~{extra['max_edges_per_origin'] * limits.listeners_per_worker:,.0f} listeners in "
        "one room before a deeper cascade is needed)."
    )
    print("\nPlacement limits for a capacity plan (PlacementLimits):")
    for key, value in asdict(limits).items():
        print(f"  {key:22} {value:10g}   {sources[key]}")

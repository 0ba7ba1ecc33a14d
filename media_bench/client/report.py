"""Figures derived from the benchmark's raw rows, the issue's targets, the printed summary."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from media_bench.common.audio import FRAME_SECONDS
from media_bench.server.settings import Settings

PACKETS_PER_SECOND = 1 / FRAME_SECONDS

TARGETS = {
    "listeners_per_core": 500.0,
    "loss_pct": 0.5,
    "tick_13_ms": 1.5,
    "arrival_p99_ms": 40.0,
    "join_p95_ms": 150.0,
    "mb_per_listener": 0.3,
    "loadgen_over_server": 1.0,
}
LOADGEN_LAG_OK_MS = 20.0
"""Latency probes live in the load generator: above this loop lag they time the generator."""
HEADLINE: str = Settings().fanout
"""The design the server runs by default: its figures are the headline ones."""


def per_listener(rows: pd.DataFrame) -> pd.DataFrame:
    """Add per-listener CPU and memory relative to the design's baseline (probes only).

    CPU is divided by the packets the server actually handed to senders, not by the nominal
    rate, so a point where the server fell behind (skipped ticks) cannot look cheaper. Points
    where it fell behind are flagged ``saturated`` and left out of the headline figures.
    """
    out = []
    for _, group in rows.groupby("design", sort=False):
        group = group.sort_values("listeners").copy()
        base = group.iloc[0]
        added = group["listeners"] - base["listeners"]
        sent_rate = group["packets_sent"] / group["seconds"]
        extra_rate = sent_rate - sent_rate.iloc[0]
        extra_cores = group["server_cores"] - base["server_cores"]
        per_packet = np.where(extra_rate > 0, extra_cores / extra_rate.clip(lower=1e-9), np.nan)
        group["us_per_listener_packet"] = per_packet * 1e6
        group["listeners_per_core"] = 1 / (per_packet * PACKETS_PER_SECOND)
        group["mb_per_listener"] = np.where(
            added > 0,
            (group["server_rss_mb"] - base["server_rss_mb"]) / added.clip(lower=1),
            np.nan,
        )
        group["saturated"] = (
            (group["late_ticks"] > 0.01 * group["ticks"])
            | (group["tick_shortfall_pct"] > 1.0)
            | (group["loss_pct"] > TARGETS["loss_pct"])
        )
        out.append(group)
    return pd.concat(out, ignore_index=True)


def _inverse_slope(rows: pd.DataFrame, design: str, x: str, cores: str) -> float:
    """1 / (slope of ``cores`` against ``x``) over a design's unsaturated points."""
    group = rows[(rows["design"] == design) & ~rows["saturated"].astype(bool)]
    if len(group) < 2:
        return math.nan
    slope = float(np.polyfit(group[x], group[cores], 1)[0])
    return 1 / slope if slope > 0 else math.inf


def fitted_listeners_per_core(rows: pd.DataFrame, design: str) -> float:
    """1 / (slope of server cores against packets sent per second x 50), unsaturated points."""
    rows = rows.assign(packet_rate=rows["packets_sent"] / rows["seconds"])
    return _inverse_slope(rows, design, "packet_rate", "server_cores") / PACKETS_PER_SECOND


def fitted_listeners_per_loadgen_core(rows: pd.DataFrame, design: str) -> float:
    """1 / (slope of load-generator cores against listeners), unsaturated points: what one
    core of the (counting) load generator holds, to set beside what one server core serves."""
    return _inverse_slope(rows, design, "listeners", "loadgen_cores")


def summarise(
    ticks: pd.DataFrame, fanout: pd.DataFrame, joins: list[float], marks: pd.DataFrame
) -> pd.DataFrame:
    """One row per headline figure, with its target where the issue sets one."""
    healthy = fanout["listeners_per_core"].notna() & ~fanout["saturated"].astype(bool)
    join_ms = np.array([j * 1000 for j in joins if not math.isnan(j)])

    def pct(values: Any, q: float) -> float:
        return float(np.percentile(values, q)) if len(values) else math.nan

    def top(design: str) -> dict[str, Any] | None:
        """The largest listener count a design carried without falling behind."""
        rows = fanout[(fanout["design"] == design) & healthy]
        return None if rows.empty else dict(rows.iloc[-1])

    def measurable(design: str) -> int:
        """Largest unsaturated count at which the load generator itself kept up."""
        rows = fanout[
            (fanout["design"] == design)
            & ~fanout["saturated"].astype(bool)
            & (fanout["loadgen_lag_p99_ms"] < LOADGEN_LAG_OK_MS)
        ]
        return -1 if rows.empty else int(rows["listeners"].iloc[-1])

    def latency(design: str, kind: str, q: float) -> float:
        count = measurable(design)
        chosen = marks[
            (marks["design"] == design) & (marks["listeners"] == count) & (marks["kind"] == kind)
        ]
        return pct(chosen["latency_ms"], q)

    def at_top(design: str, column: str) -> float:
        best = top(design)
        return float(best[column]) if best is not None else math.nan

    naive_fit = fitted_listeners_per_core(fanout, "naive")
    tick13 = ticks[ticks["speakers"] == 13]
    figures: list[tuple[str, str, float, str]] = [
        ("tick_13_ms", "mixer tick CPU p99, 13 speakers (ms)",
         float(tick13["cpu_p99_ms"].iloc[0]), "<="),
        ("tick_13_mean_ms", "mixer tick CPU mean, 13 speakers (ms)",
         float(tick13["cpu_mean_ms"].iloc[0]), ""),
        ("tick_13_wall_p99_ms", "mixer tick wall-clock p99, 13 speakers (ms)",
         float(tick13["p99_ms"].iloc[0]), ""),
        ("join_p50_ms", f"join time p50, {HEADLINE} (ms)", pct(join_ms, 50), ""),
        ("join_p95_ms", f"join time p95, {HEADLINE} (ms)", pct(join_ms, 95), "<="),
        ("naive_listeners_per_core_fit", "listeners per core, naive (fit)", naive_fit, ""),
    ]  # fmt: skip
    for design in (HEADLINE, *(d for d in ("shared", "direct") if d != HEADLINE)):
        if design not in set(fanout["design"]):
            continue
        fit = fitted_listeners_per_core(fanout, design)
        loadgen_fit = fitted_listeners_per_loadgen_core(fanout, design)
        # the server's default fan-out carries the targets; the other design is for comparison
        prefix = "" if design == HEADLINE else f"{design}_"
        sense = ">=" if design == HEADLINE else ""
        le = "<=" if design == HEADLINE else ""
        figures += [
            (f"{prefix}largest_unsaturated", f"{design}: largest count carried without lag",
             at_top(design, "listeners"), ""),
            (f"{prefix}listeners_per_core", f"{design}: listeners per core at that count",
             at_top(design, "listeners_per_core"), sense),
            (f"{prefix}listeners_per_core_fit", f"{design}: listeners per core (fit)", fit, ""),
            (f"{prefix}fanout_ratio", f"{design}: listeners per core / naive (fits)",
             fit / naive_fit if naive_fit and not math.isnan(naive_fit) else math.nan, ""),
            (f"{prefix}loadgen_listeners_per_core_fit",
             f"{design}: listeners per load-generator core (fit)", loadgen_fit, ""),
            (f"{prefix}loadgen_over_server", f"{design}: load-generator / server per core (fits)",
             loadgen_fit / fit if fit and not math.isnan(fit) else math.nan, sense),
            (f"{prefix}loss_pct", f"{design}: loss at that count (%)",
             at_top(design, "loss_pct"), le),
            (f"{prefix}latency_listeners", f"{design}: largest count the load generator kept up",
             float(measurable(design)), ""),
            (f"{prefix}arrival_p50_ms", f"{design}: mouth-to-arrival p50 at that count (ms)",
             latency(design, "arrival", 50), ""),
            (f"{prefix}arrival_p99_ms", f"{design}: mouth-to-arrival p99 at that count (ms)",
             latency(design, "arrival", 99), le),
            (f"{prefix}ear_p50_ms", f"{design}: mouth-to-ear (aiortc jitter buffer) p50 (ms)",
             latency(design, "ear", 50), ""),
            (f"{prefix}ear_p99_ms", f"{design}: mouth-to-ear (aiortc jitter buffer) p99 (ms)",
             latency(design, "ear", 99), ""),
            (f"{prefix}mb_per_listener", f"{design}: server memory per listener (MB)",
             at_top(design, "mb_per_listener"), le),
        ]  # fmt: skip
    rows = []
    for key, label, value, sense in figures:
        target = TARGETS.get(key) if sense else None
        met = None
        if target is not None and not math.isnan(value):
            met = value <= target if sense == "<=" else value >= target
        rows.append({"figure": key, "label": label, "value": value, "target": target, "met": met})
    return pd.DataFrame(rows)


def print_summary(ticks: pd.DataFrame, fanout: pd.DataFrame, summary: pd.DataFrame) -> None:
    print("\nMixer tick cost by speakers (ms): wall p50 / wall p99 / CPU p99")
    cells = [
        f"{int(r['speakers'])}: {r['p50_ms']:.2f}/{r['p99_ms']:.2f}/{r['cpu_p99_ms']:.2f}"
        for r in ticks.to_dict("records")
    ]
    for start in range(0, len(cells), 5):
        print("  " + "   ".join(cells[start : start + 5]))
    busy = float(ticks["other_cores"].max())
    print(f"  (other processes used up to {busy:.2f} cores meanwhile)")
    columns = [
        "design", "listeners", "server_cores", "us_per_listener_packet", "listeners_per_core",
        "loss_pct", "late_ticks", "tick_mean_ms", "mb_per_listener", "arrival_p50_ms",
        "arrival_p99_ms", "loadgen_cores", "loadgen_lag_p99_ms", "other_cores", "saturated",
    ]  # fmt: skip
    print("\nFan-out (server process CPU; baseline row = speakers and probe listeners only):")
    print(fanout[columns].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("\nHeadline figures:")
    for r in summary.to_dict("records"):
        target = "" if r["target"] is None or pd.isna(r["target"]) else f"target {r['target']:g}"
        met = r["met"]
        verdict = "" if met is None or pd.isna(met) else ("met" if met else "NOT met")
        print(f"  {r['label']:55} {r['value']:10.3f}  {target:14} {verdict}")

"""Planned against achieved shape of a replay: per room, the listeners the plan has and the
listeners the server counted (``room_sampler``) over time and at the peak, with a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from loadtests.replay_plan import ReplayPlan, over_time, room_of_title

SHAPE_COLUMNS: dict[str, str] = {
    "t_s": "replay seconds (0: the replay's clock started)",
    "room": "replayed room",
    "planned_listeners": "listeners the plan has connected",
    "achieved_listeners": "listeners the server counted",
    "planned_speakers": "people on stage in the plan",
    "achieved_speakers": "people on stage on the server",
}
PEAK_COLUMNS: dict[str, str] = {
    "room": "replayed room",
    "planned_listeners": "at the peak instant",
    "achieved_listeners": "at the server's sample nearest the peak",
    "planned_speakers": "on stage at the peak",
    "achieved_speakers": "on stage at the sample nearest the peak",
}


def shape_table(plan: ReplayPlan, samples: pd.DataFrame, started_at: float) -> pd.DataFrame:
    """``SHAPE_COLUMNS`` at each time the server was sampled during the hour; ``samples`` are
    ``room_sampler`` rows, ``started_at`` the epoch time of the replay's clock."""
    samples = samples.assign(t_s=samples["at"] - started_at,
                             room=samples["title"].map(room_of_title))
    inside = samples[(samples["t_s"] >= 0) & (samples["t_s"] <= plan.duration_s)]
    times = np.sort(inside["t_s"].unique())
    planned = over_time(plan, times).rename(columns={"listeners": "planned_listeners",
                                                     "speakers": "planned_speakers"})
    mine = inside.dropna(subset=["room"]).astype({"room": "int64"})
    achieved = (mine.groupby(["t_s", "room"])[["listeners", "speakers"]].sum()
                .rename(columns={"listeners": "achieved_listeners",
                                 "speakers": "achieved_speakers"}).reset_index())
    table = planned.merge(achieved, on=["t_s", "room"], how="left").fillna(0)
    table = table.astype({name: "int64" for name in SHAPE_COLUMNS if name not in ("t_s",)})
    return table[list(SHAPE_COLUMNS)].sort_values(["t_s", "room"], ignore_index=True)


def at_peak(plan: ReplayPlan, shape: pd.DataFrame) -> pd.DataFrame:
    """``PEAK_COLUMNS``: each room at the sample nearest the plan's peak instant."""
    times = shape["t_s"].unique()
    if times.shape[0] == 0:
        return pd.DataFrame(columns=list(PEAK_COLUMNS))
    nearest = times[int(np.argmin(np.abs(times - plan.peak_s)))]
    row: pd.DataFrame = shape[shape["t_s"] == nearest][list(PEAK_COLUMNS)]
    return row.reset_index(drop=True)


def headline(plan: ReplayPlan, peak: pd.DataFrame) -> dict[str, Any]:
    planned, achieved = peak["planned_listeners"], peak["achieved_listeners"]
    return {
        "rooms": len(plan.rooms),
        "speedup": plan.spec.speedup,
        "planned_listeners": int(planned.sum()),
        "achieved_listeners": int(achieved.sum()),
        "planned_biggest": int(planned.max()) if len(peak) else 0,
        "planned_median": float(planned.median()) if len(peak) else 0.0,
        "achieved_biggest": int(achieved.max()) if len(peak) else 0,
        "achieved_median": float(achieved.median()) if len(peak) else 0.0,
        "mean_room_error": float((achieved - planned).abs().mean()) if len(peak) else 0.0,
        "source": plan.source,
        "derived_ends": plan.derived_ends,
    }


def describe(summary: dict[str, Any]) -> str:
    """The planned-vs-achieved headline as the swarm prints it."""
    return (f"replay of the sim's peak hour ({summary['rooms']} rooms, "
            f"{summary['speedup']:g}x): at the peak planned {summary['planned_listeners']} "
            f"listeners (biggest room {summary['planned_biggest']}, median "
            f"{summary['planned_median']:.0f}), achieved {summary['achieved_listeners']} "
            f"(biggest {summary['achieved_biggest']}, median "
            f"{summary['achieved_median']:.0f}); off by {summary['mean_room_error']:.1f} "
            f"listeners per room on average")


def chart(plan: ReplayPlan, shape: pd.DataFrame, peak: pd.DataFrame, path: Path) -> None:
    """Listeners per room over the hour (planned dashed, achieved solid) and at the peak."""
    fig = Figure(figsize=(12, 4.5))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    colors = colormaps["tab10"]
    for i, (room, of_room) in enumerate(shape.groupby("room")):
        color = colors(i % 10)
        left.plot(of_room["t_s"], of_room["planned_listeners"], "--", color=color)
        left.plot(of_room["t_s"], of_room["achieved_listeners"], "-", color=color,
                  label=f"room {room}")
    left.axvline(plan.peak_s, color="grey", lw=0.8)
    left.set(xlabel="replay seconds", ylabel="listeners",
             title="listeners per room: planned (dashed) and achieved")
    left.legend(fontsize="small", ncol=2)
    x = np.arange(len(peak))
    right.bar(x - 0.2, peak["planned_listeners"], 0.4, label="planned")
    right.bar(x + 0.2, peak["achieved_listeners"], 0.4, label="achieved")
    right.set(xticks=x, xticklabels=[str(r) for r in peak["room"]], xlabel="room",
              ylabel="listeners", title="at the peak")
    right.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)

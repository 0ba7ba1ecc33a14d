"""PNG charts of a sim run: mDAU fan, eligible hosts, concurrency, revenue, reach."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim import summary
from sim.actuals import ANALYST_DAY_GOAL_M, ANALYST_DAY_GOAL_QUARTER, quarterly_mdau
from sim.runner import SimRun

PURPLE = "#7856ff"


def mdau_fan(run: SimRun) -> Figure:
    """Daily total mDAU: median, 50% and 90% bands, quarterly actuals and the 315M goal."""
    fig, ax = plt.subplots(figsize=(9, 5))
    for segment, color in (("total", PURPLE), ("intl", "#1d9bf0"), ("us", "#657786")):
        fan = summary.mdau_fan(run.users, segment)
        ax.fill_between(fan["date"], fan["p05"], fan["p95"], color=color, alpha=0.15,
                        label=f"{segment} 90% band" if segment == "total" else None)
        ax.fill_between(fan["date"], fan["p25"], fan["p75"], color=color, alpha=0.3,
                        label=f"{segment} 50% band" if segment == "total" else None)
        ax.plot(fan["date"], fan["p50"], color=color, lw=1.5, label=f"{segment} median")
    actual = quarterly_mdau()
    for segment, marker in (("total", "o"), ("intl", "s"), ("us", "^")):
        ax.scatter(actual["mid"], actual[segment], color="black", marker=marker, s=18, zorder=5,
                   label="quarterly actuals" if segment == "total" else None)
    goal_at = pd.Period(ANALYST_DAY_GOAL_QUARTER, freq="Q")
    goal_span = np.array([goal_at.start_time, goal_at.end_time], dtype="datetime64[ns]")
    ax.plot(goal_span, [ANALYST_DAY_GOAL_M] * 2, color="crimson", lw=3,
              label=f"goal {ANALYST_DAY_GOAL_M:.0f}M in {ANALYST_DAY_GOAL_QUARTER}")
    ax.axhline(ANALYST_DAY_GOAL_M, color="crimson", lw=0.6, ls=":")
    ax.set(title=f"mDAU, scenario {_name(run)} ({run.reps} replications)",
           ylabel="mDAU (millions)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def eligible_hosts(run: SimRun) -> Figure:
    """Accounts allowed to host vs hosts who have taken it up, log scale."""
    fig, ax = plt.subplots(figsize=(9, 5))
    frame = run.eligibility[run.eligibility["date"] >= "2020-11-01"]
    for column, color, label in (
        ("eligible_hosts", PURPLE, "may host (policy x followers)"),
        ("active_hosts", "#1d9bf0", "have taken up hosting"),
        ("ticket_eligible_hosts", "#f91880", "may sell tickets"),
    ):
        fan = summary.quantiles(frame, ["date"], column)
        fan = fan.where(fan["p50"] > 0)  # nothing to draw on a log scale before it starts
        ax.fill_between(fan["date"], fan["p05"], fan["p95"], color=color, alpha=0.2)
        ax.plot(fan["date"], fan["p50"], color=color, label=label)
    ax.set_yscale("log")
    ax.set(title="Who may host", ylabel="accounts")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return fig


def concurrency(run: SimRun) -> Figure:
    """Monthly peak-hour live rooms and listeners (sampled days), median and 90% band."""
    peaks = summary.peak_hours(run.rooms, "M")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, column, title in ((axes[0], "live_rooms_peak", "peak live rooms"),
                              (axes[1], "listeners_peak", "peak concurrent listeners")):
        fan = summary.quantiles(peaks, ["period"], column)
        x = pd.PeriodIndex(fan["period"], freq="M").to_timestamp()
        ax.fill_between(x, fan["p05"], fan["p95"], color=PURPLE, alpha=0.2, label="90% band")
        ax.plot(x, fan["p50"], color=PURPLE, label="median")
        ax.set(title=title)
        ax.tick_params(axis="x", rotation=30)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Busiest hour per month, scenario {_name(run)}")
    fig.tight_layout()
    return fig


def reach(run: SimRun) -> Figure:
    """Spaces' reach by week since the beta: unique listeners and hosts a day, listeners as a
    share of mDAU; median and 50% / 90% bands across replications."""
    frame = run.reach[run.reach["date"] >= "2020-12-01"]
    weekly = summary.reach_by(frame, "W")
    weekly["listeners_pct"] = 100 * weekly["listeners_share_of_mdau"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, column, title, scale in (
        (axes[0], "unique_listeners", "unique listeners a day (M)", 1e6),
        (axes[1], "unique_hosts", "unique hosts a day (thousands)", 1e3),
        (axes[2], "listeners_pct", "listeners, % of mDAU", 1.0),
    ):
        fan = summary.quantiles(weekly, ["period"], column)
        x = pd.PeriodIndex(fan["period"], freq="W").to_timestamp()
        ax.fill_between(x, fan["p05"] / scale, fan["p95"] / scale, color=PURPLE, alpha=0.15,
                        label="90% band")
        ax.fill_between(x, fan["p25"] / scale, fan["p75"] / scale, color=PURPLE, alpha=0.3,
                        label="50% band")
        ax.plot(x, fan["p50"] / scale, color=PURPLE, label="median")
        ax.set(title=title)
        ax.tick_params(axis="x", rotation=30)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Spaces' reach (weekly means of days), scenario {_name(run)}, "
                 f"{run.reps} replications")
    fig.tight_layout()
    return fig


def diurnal(run: SimRun) -> Figure:
    """Average live rooms and listeners by hour of day (UTC) in the last sampled year."""
    rooms = run.rooms
    last_year = pd.to_datetime(rooms["date"]).dt.year.max()
    frame = rooms[pd.to_datetime(rooms["date"]).dt.year == last_year]
    by_hour = frame.groupby("hour")[["live_rooms_mean", "listeners_mean"]].mean()
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(by_hour.index, by_hour["listeners_mean"], color=PURPLE, alpha=0.7, label="listeners")
    twin = ax.twinx()
    twin.plot(by_hour.index, by_hour["live_rooms_mean"], color="black", label="live rooms")
    ax.set(xlabel="hour (UTC)", ylabel="mean listeners", title=f"Daily cycle, {last_year}")
    twin.set_ylabel("mean live rooms")
    return fig


def revenue(run: SimRun) -> Figure:
    """Quarterly ticket revenue by party, median across replications."""
    long = summary.revenue_by(run.revenue, "Q")
    long = long[long["party"] != "gross"]
    median = long.groupby(["period", "party"])["usd"].median().unstack("party").fillna(0)
    median = median[(median.sum(axis=1) > 0)]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    bottom = None
    for party, color in (("creators", PURPLE), ("app store", "#657786"), ("twitter", "#1d9bf0")):
        if party not in median:
            continue
        ax.bar(median.index, median[party] / 1e6, bottom=bottom, color=color, label=party)
        bottom = median[party] / 1e6 if bottom is None else bottom + median[party] / 1e6
    ax.set(title="Ticketed Spaces revenue by party (median)", ylabel="USD millions per quarter")
    ax.tick_params(axis="x", rotation=45)
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    return fig


CHARTS = {
    "mdau_fan": mdau_fan,
    "eligible_hosts": eligible_hosts,
    "concurrency": concurrency,
    "diurnal": diurnal,
    "revenue": revenue,
    "reach": reach,
}


def write_all(run: SimRun, out: Path) -> list[Path]:
    """Write every chart as PNG into ``out``; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in CHARTS.items():
        fig = make(run)
        target = out / f"{name}.png"
        fig.savefig(target, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(target)
    return written


def _name(run: SimRun) -> str:
    return run.scenario.name if run.scenario else "?"

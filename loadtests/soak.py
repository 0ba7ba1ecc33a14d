"""Soak: the memory of the server and of the load generator over a swarm, its growth per hour
fitted, a leak flagged.

The metrics sampler records each watched process tree's resident memory
(``process_rss_bytes``: the server with its media workers, Locust with its worker processes).
The fit is a least-squares line of MB against hours (``numpy.polyfit`` with its covariance)
over the window in which the load held, its first third left out: from when the listeners
first reached 90% of their peak (before that, memory grows with the users joining) plus a third
of the rest (the allocator and caches settle: an 11-minute swarm's server grew 60 MB/h in its
first half, 8 MB/h in its second) to the end of the load.

A leak is flagged when the slope's lower 95% bound (slope - 1.96 standard errors) is above the
threshold, ``--max-leak-mb-per-hour`` (default ``LEAK_MB_PER_HOUR``: over a day, 240 MB, the
memory of some 1,300 listeners at 0.18 MB each), in a window of at least ``MIN_WINDOW_S``. A
shorter window extrapolates noise (2 MB in a minute reads as 120 MB an hour): its slope is
recorded but not judged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loadtests.metrics_sampler import RSS_METRIC

LEAK_MB_PER_HOUR = 10.0
"""Default leak threshold: memory growth per hour of a process tree while the load holds."""
MIN_WINDOW_S = 600.0
"""The shortest load window whose memory slope is judged."""
MAX_SCRAPES = 900
"""A run of hours samples less often, so its samples stay about this many."""
LOAD_UP_SHARE = 0.9
"""The load is up once the listeners first reach this share of their peak."""
SETTLE_SHARE = 1 / 3
"""The share of the held load's window left out of the fit while memory settles."""
Z95 = 1.96


def sample_interval(duration_s: float, least_s: float = 2.0) -> float:
    """Seconds between scrapes: ``least_s``, or longer so a run keeps ~``MAX_SCRAPES``."""
    return max(least_s, duration_s / MAX_SCRAPES)


@dataclass(frozen=True)
class MemoryFit:
    """A process tree's memory growth over a window, and the verdict on it."""

    process: str
    from_s: float
    to_s: float
    samples: int
    mean_mb: float
    slope_mb_per_h: float
    stderr_mb_per_h: float
    threshold_mb_per_h: float
    judged: bool
    leak: bool

    def describe(self) -> str:
        verdict = ("LEAK" if self.leak else "no leak") if self.judged else (
            f"window under {MIN_WINDOW_S:.0f} s: not judged")
        return (f"{self.process} memory {self.mean_mb:.0f} MB, growing "
                f"{self.slope_mb_per_h:+.1f} ± {Z95 * self.stderr_mb_per_h:.1f} MB/h over "
                f"{self.from_s:.0f}-{self.to_s:.0f} s ({verdict}; threshold "
                f"{self.threshold_mb_per_h:g} MB/h)")


def fit_memory(process: str, t_s: np.ndarray, mb: np.ndarray,
               threshold_mb_per_h: float = LEAK_MB_PER_HOUR,
               min_window_s: float = MIN_WINDOW_S) -> MemoryFit:
    """Fit MB against hours; a leak when the slope's lower 95% bound exceeds the threshold
    in a window of at least ``min_window_s``."""
    t_s, mb = np.asarray(t_s, dtype=float), np.asarray(mb, dtype=float)
    span = float(t_s.max() - t_s.min()) if len(t_s) else 0.0
    slope = stderr = math.nan
    if len(t_s) >= 3 and span > 0:  # a line and its standard error
        coefficients, covariance = np.polyfit(t_s / 3600, mb, 1, cov=True)
        slope, stderr = float(coefficients[0]), float(math.sqrt(covariance[0, 0]))
    judged = span >= min_window_s and not math.isnan(slope)
    leak = judged and slope - Z95 * stderr > threshold_mb_per_h
    return MemoryFit(process=process, from_s=float(t_s.min()) if len(t_s) else math.nan,
                     to_s=float(t_s.max()) if len(t_s) else math.nan, samples=len(t_s),
                     mean_mb=float(mb.mean()) if len(mb) else math.nan,
                     slope_mb_per_h=slope, stderr_mb_per_h=stderr,
                     threshold_mb_per_h=threshold_mb_per_h, judged=judged, leak=leak)


def memory_series(metrics: pd.DataFrame) -> pd.DataFrame:
    """Tidy memory over time from the sampler's rows: t_s, process, rss_mb."""
    rows = metrics[metrics["metric"] == RSS_METRIC]
    return pd.DataFrame({"t_s": rows["t_s"].to_numpy(),
                         "process": rows["labels"].str.removeprefix("process=").to_numpy(),
                         "rss_mb": rows["value"].to_numpy() / 1e6})


def load_window(metrics: pd.DataFrame, load_end_s: float) -> tuple[float, float]:
    """From when the listeners first reached ``LOAD_UP_SHARE`` of their peak (the start of the
    run when no listener was counted), plus ``SETTLE_SHARE`` of the rest, to the end of the
    load."""
    listeners = metrics[(metrics["metric"] == "spaces_participants")
                        & (metrics["labels"] == "role=listener")].groupby("t_s")["value"].sum()
    up_s = 0.0
    if not listeners.empty and listeners.max() > 0:
        up_s = float(listeners[listeners >= LOAD_UP_SHARE * listeners.max()].index.min())
    return up_s + SETTLE_SHARE * max(load_end_s - up_s, 0.0), load_end_s


def fit_all(memory: pd.DataFrame, window: tuple[float, float],
            threshold_mb_per_h: float = LEAK_MB_PER_HOUR) -> list[MemoryFit]:
    """One fit per process over the window."""
    inside = memory[(memory["t_s"] >= window[0]) & (memory["t_s"] <= window[1])]
    return [fit_memory(str(process), group["t_s"].to_numpy(), group["rss_mb"].to_numpy(),
                       threshold_mb_per_h)
            for process, group in inside.groupby("process", sort=True)]


def summary_of(fits: list[MemoryFit]) -> dict[str, dict[str, Any]]:
    """The manifest's ``memory`` entry: each process's fit, by process."""
    return {fit.process: asdict(fit) for fit in fits}


def memory_chart(memory: pd.DataFrame, fits: list[MemoryFit], target: Path) -> Path:
    """Memory of each process tree over the run, its fitted line over the load window."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    for fit in fits:
        series = memory[memory["process"] == fit.process]
        line = ax.plot(series["t_s"] / 60, series["rss_mb"], lw=1, alpha=0.5,
                       label=fit.process)[0]
        if not math.isnan(fit.slope_mb_per_h):
            inside = series[(series["t_s"] >= fit.from_s) & (series["t_s"] <= fit.to_s)]
            hours = inside["t_s"].to_numpy() / 3600
            intercept = float(inside["rss_mb"].mean() - fit.slope_mb_per_h * hours.mean())
            ax.plot(inside["t_s"] / 60, intercept + fit.slope_mb_per_h * hours, ls="--", lw=2,
                    color=line.get_color(),
                    label=f"{fit.process} fit {fit.slope_mb_per_h:+.1f} MB/h"
                          + (" LEAK" if fit.leak else ""))
    ax.set(xlabel="minutes", ylabel="resident memory (MB, process tree)",
           title="memory over the swarm (dashed: fit over the load window)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return target

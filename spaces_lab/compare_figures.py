"""The headline figures of a run folder, whatever wrote it: a tidy table per run.

- ``bench-mixer`` and ``bench-cascade``: the run's ``summary`` table (one row per figure);
- ``swarm``: the manifest's ``summary`` (failures, join, latency, loss, jitter, listeners
  per core while the load held, memory growth of a soak long enough to be judged);
- ``sim``: ``sim.summary.headline`` over the run's replications (median, 5% and 95%).

Each table has the columns ``figure, label, value, p05, p95`` (the percentiles only for sim
runs, NaN otherwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from spaces_core.errors import CliError
from spaces_core.runfolder import MANIFEST, read_manifest, read_table
from spaces_lab.compare_rules import KINDS, YARDSTICK

COLUMNS = ["figure", "label", "value", "p05", "p95"]


@dataclass(frozen=True)
class RunFigures:
    """One run's headline figures, its kind and its machine yardstick (None if it has none)."""

    path: Path
    kind: str
    created: str
    figures: pd.DataFrame
    yardstick_us: float | None
    reps: int | None = None

    @property
    def name(self) -> str:
        return self.path.name


def read_run(path: Path) -> RunFigures:
    """A run folder's headline figures; a :class:`CliError` naming the folder when it is not
    a run folder or not of a kind ``compare`` reads."""
    if not (path / MANIFEST).is_file():
        raise CliError(f"{path} is not a run folder (no {MANIFEST})")
    manifest = read_manifest(path)
    kind = str(manifest.get("kind", ""))
    if kind not in KINDS:
        raise CliError(f"{path}: runs of kind {kind!r} cannot be compared "
                       f"(kinds compared: {', '.join(KINDS)})")
    yardstick = manifest.get("machine_yardstick", {}).get(YARDSTICK)
    reps = None
    if kind == "sim":
        figures, reps = sim_figures(path), int(manifest.get("reps", 0))
    elif kind == "swarm":
        figures = swarm_figures(manifest.get("summary", {}))
    else:
        figures = bench_figures(path)
    return RunFigures(path=path, kind=kind, created=str(manifest.get("created_utc", "?")),
                      figures=figures, reps=reps,
                      yardstick_us=float(yardstick) if yardstick is not None else None)


def bench_figures(path: Path) -> pd.DataFrame:
    try:
        summary = read_table(path, "summary")
    except (KeyError, OSError) as error:
        raise CliError(f"{path}: no readable summary table ({error})") from error
    frame = summary[["figure", "label", "value"]].copy()
    frame["value"] = frame["value"].astype(float)
    return frame.assign(p05=math.nan, p95=math.nan)[COLUMNS]


def _get(row: Any, key: str) -> float:
    value = row.get(key) if isinstance(row, dict) else None
    return float(value) if value is not None else math.nan


def swarm_figures(summary: dict[str, Any]) -> pd.DataFrame:
    """The figures a swarm's manifest summary holds (absent ones are left out)."""
    requests = summary.get("requests", 0)
    steady = summary.get("steady", {})

    def per_core(process: str) -> float:
        key = f"listeners_per_{process}_core"
        return _get(steady, key) if key in steady else _get(summary, key)

    rows: list[tuple[str, str, float]] = [
        ("failure_pct", "requests failed (%)",
         100 * summary.get("failures", 0) / requests if requests else math.nan),
        ("join_p50_ms", "join, offer to first audio, p50 (ms)",
         _get(summary.get("join_ms"), "p50")),
        ("join_p95_ms", "join, offer to first audio, p95 (ms)",
         _get(summary.get("join_ms"), "p95")),
        ("arrival_p50_ms", "mouth-to-arrival p50 (ms)",
         _get(summary.get("mouth_to_arrival_ms"), "p50")),
        ("arrival_p99_ms", "mouth-to-arrival p99 (ms)",
         _get(summary.get("mouth_to_arrival_ms"), "p99")),
        ("ear_p50_ms", "mouth-to-ear p50 (ms)", _get(summary.get("mouth_to_ear_ms"), "p50")),
        ("ear_p99_ms", "mouth-to-ear p99 (ms)", _get(summary.get("mouth_to_ear_ms"), "p99")),
        ("loss_pct", "packet loss, mean of windows (%)",
         _get(summary.get("loss_per_mille"), "mean") / 10),
        ("jitter_ms", "jitter, mean (ms)", _get(summary.get("jitter_ms"), "mean")),
        ("listeners_per_server_core", "listeners per server core (steady state)",
         per_core("server")),
        ("listeners_per_loadgen_core", "listeners per load-generator core (steady state)",
         per_core("loadgen")),
        ("peak_listeners", "peak listeners", float(summary.get("peak_listeners", math.nan))),
    ]  # fmt: skip
    for process, fit in sorted(summary.get("memory", {}).items()):
        if not fit.get("judged"):
            continue  # a window too short to judge: its slope extrapolates noise
        rows.append((f"{process}_memory_mb_per_h", f"{process} memory growth (MB per hour)",
                     _get(fit, "slope_mb_per_h")))
    frame = pd.DataFrame(rows, columns=["figure", "label", "value"])
    frame = frame[frame["value"].notna()]
    return frame.assign(p05=math.nan, p95=math.nan)[COLUMNS].reset_index(drop=True)


def sim_figures(path: Path) -> pd.DataFrame:
    from sim import runner, summary

    run = runner.load(path)
    headline = summary.headline(run.users, run.eligibility, run.rooms, run.revenue)
    return pd.DataFrame({"figure": headline["figure"], "label": headline["figure"],
                         "value": headline["median"], "p05": headline["p05"],
                         "p95": headline["p95"]})[COLUMNS]

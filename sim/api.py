"""The Python API the notebooks call: run a scenario or load a run folder, get DataFrames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim import followers, hosts
from sim import scenario as scenarios
from sim.cache_key import run_key
from sim.policy import PolicyParams
from sim.runner import SimRun, load, run, write
from sim.summary import (
    headline,
    mdau_fan,
    mdau_vs_actuals,
    peak_hours,
    quantiles,
    reach_by,
    revenue_by,
    shares_beside_ledger,
)
from sim.users import fit_table, required_extra_growth, required_spaces_lift
from spaces_core.runfolder import MANIFEST, read_manifest
from spaces_core.settings import quick_mode

if TYPE_CHECKING:  # sim.sweep brings in distributed, which is slow to import
    from sim.sweep import SweepRun

__all__ = [
    "SimRun",
    "eligible_under_policies",
    "ensure_run",
    "fit_table",
    "headline",
    "load",
    "load_sweep",
    "mdau_fan",
    "mdau_vs_actuals",
    "peak_hours",
    "reach_by",
    "revenue_by",
    "scenarios",
    "shares_beside_ledger",
    "simulate",
    "spaces_lift_needed",
    "sweep",
]


def simulate(scenario: str = "baseline", reps: int = 8, seed: int = 1,
             overrides: Mapping[str, Mapping[str, Any]] | None = None,
             out: Path | str | None = None, workers: int | None = None,
             progress: bool = True) -> SimRun:
    """Run a scenario (name or TOML path); write a run folder too when ``out`` is given.

    ``overrides`` looks like ``{"tickets": {"store_fee": 0.15}}``.
    """
    chosen = scenarios.load(scenario, overrides)
    result = run(chosen, reps=reps, seed=seed, workers=workers, progress=progress)
    if out is not None:
        write(result, Path(out))
    return result


def sweep(scenario: str = "baseline", grid: Mapping[str, Sequence[Any]] | None = None,
          reps: int = 8, seed: int = 1, overrides: Mapping[str, Mapping[str, Any]] | None = None,
          scheduler: str | None = None, workers: int | None = None,
          out: Path | str | None = None, progress: bool = True) -> SweepRun:
    """Run a scenario at every point of ``grid`` on a Dask cluster (local unless ``scheduler``,
    e.g. ``"tcp://host:8786"``); write a run folder too when ``out`` is given.

    ``grid`` looks like ``{"policy.threshold": [300, 600], "tickets.store_fee": [0.15, 0.3]}``;
    the result's ``outcomes`` and ``summary`` tables hold the headline outputs per point.
    """
    from sim import sweep as sweeps

    result = sweeps.run_sweep(scenario, grid or {}, reps=reps, seed=seed, overrides=overrides,
                              scheduler=scheduler, workers=workers, progress=progress)
    if out is not None:
        sweeps.write(result, Path(out))
    return result


def load_sweep(path: Path | str) -> SweepRun:
    """Read a sweep run folder (``spaces-lab sim sweep --out ...``) back."""
    from sim import sweep as sweeps

    return sweeps.load(path)


#: what a notebook runs in quick mode (CI): seconds, not minutes
QUICK_REPS = 2
QUICK_OVERRIDES: dict[str, dict[str, Any]] = {
    "hosting": {"panel_size": 1_000, "beta_panel": 30, "room_day_stride": 28},
}


def ensure_run(scenario: str = "baseline", overrides: Mapping[str, Mapping[str, Any]] | None = None,
               reps: int = 8, seed: int = 1, runs_dir: Path | str = "runs") -> SimRun:
    """The run folder for these settings: loaded if it exists, else made (small in quick mode).

    Folders are named by scenario and the run's cache key (:mod:`sim.cache_key`): the resolved
    parameters, reps, seed, package version, model source and calibration data. A notebook
    re-run reads what the previous run wrote; an edited scenario, model or data file runs anew.
    """
    merged: dict[str, dict[str, Any]] = {}
    if quick_mode():
        reps = min(reps, QUICK_REPS)
        merged = {group: dict(values) for group, values in QUICK_OVERRIDES.items()}
    for group, values in (overrides or {}).items():
        merged.setdefault(group, {}).update(values)
    chosen = scenarios.load(scenario, merged)
    key = run_key(chosen, reps, seed)
    folder = Path(runs_dir) / f"sim-{Path(scenario).stem}-{key.key}"
    if (folder / MANIFEST).is_file():
        recorded = read_manifest(folder).get("cache_key") or {}
        if recorded.get("key") != key.key:
            raise ValueError(f"{folder}: its manifest records another cache key; move it away")
        return load(folder)
    result = run(chosen, reps=reps, seed=seed)
    write(result, folder)
    return result


def eligible_under_policies(run: SimRun, policies: Mapping[str, PolicyParams]
                            ) -> pd.DataFrame:
    """Median and bands of eligible hosts per day if each policy had applied to this run's
    users: date, policy, p05..p95. Computed from the follower distribution; no re-simulation."""
    frames = []
    total = run.users[run.users["segment"] == "total"]
    for label, policy in policies.items():
        for rep, path in total.groupby("rep"):
            days = [d.date() for d in pd.to_datetime(path["date"])]
            eligible = hosts.eligible_timeline(days, path["mdau_m"].to_numpy() * 1e6, policy,
                                               followers.fitted())
            frames.append(pd.DataFrame({"date": path["date"].to_numpy(), "rep": rep,
                                        "policy": label, "eligible_hosts": eligible}))
    return quantiles(pd.concat(frames, ignore_index=True), ["policy", "date"], "eligible_hosts")


def spaces_lift_needed(targets_m: Sequence[float], scenario: str = "baseline") -> pd.DataFrame:
    """For each Q4 2023 mDAU target: the Spaces lift it needs and the extra growth it would
    take without Spaces (central path, no noise)."""
    chosen = scenarios.load(scenario)
    rows = []
    for target in targets_m:
        lift = required_spaces_lift(chosen.users, chosen.spaces, target)
        growth = required_extra_growth(chosen.users, chosen.spaces, target)
        rows.append({"target_mdau_m": target, "spaces_mdau_lift": lift,
                     "adopters_vs_others": 1 + lift, "or_extra_growth_per_year": growth})
    return pd.DataFrame(rows)

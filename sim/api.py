"""The Python API the notebooks call: run a scenario or load a run folder, get DataFrames."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim import scenario as scenarios
from sim.runner import SimRun, load, run, write
from sim.summary import headline, mdau_fan, mdau_vs_actuals, peak_hours, revenue_by
from sim.users import fit_table

__all__ = [
    "SimRun",
    "fit_table",
    "headline",
    "load",
    "mdau_fan",
    "mdau_vs_actuals",
    "peak_hours",
    "revenue_by",
    "scenarios",
    "simulate",
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

"""Run replications of a scenario in parallel and write them to a run folder."""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from sim.cache_key import RunKey, run_key
from sim.model import Replication, run_replication
from sim.scenario import Scenario
from sim.users import resolve_targets
from spaces_core.runfolder import RunWriter, new_run_dir, read_manifest

TABLES = ("users", "eligibility", "rooms", "rooms_daily", "revenue", "payouts", "reach",
          "peak_rooms")


@dataclass
class SimRun:
    """The tidy tables of a simulation run (all replications), as notebooks use them."""

    scenario: Scenario | None
    seed: int
    reps: int
    tables: dict[str, pd.DataFrame]
    solved: dict[str, float] = field(default_factory=dict)
    stats: pd.DataFrame = field(default_factory=pd.DataFrame)
    path: Path | None = None
    key: RunKey | None = None

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables: dict[str, pd.DataFrame] = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)


def resolve(scenario: Scenario) -> tuple[Scenario, dict[str, float]]:
    """Solve any target settings (analyst-day, spaces-boost) into plain parameters."""
    users, spaces = resolve_targets(scenario.users, scenario.spaces)
    solved: dict[str, float] = {}
    if scenario.users.target_mdau_m > 0:
        solved["users.extra_growth"] = users.extra_growth
    if scenario.spaces.target_mdau_m > 0:
        solved["spaces.mdau_lift"] = spaces.mdau_lift
    return dataclasses.replace(scenario, users=users, spaces=spaces), solved


def _one(args: tuple[Scenario, int, int]) -> Replication:
    scenario, seed, rep = args
    return run_replication(scenario, seed, rep)


def run(scenario: Scenario, reps: int = 8, seed: int = 1, workers: int | None = None,
        progress: bool = True) -> SimRun:
    """Run ``reps`` replications (in parallel across cores) and gather their tables."""
    if reps < 1:
        raise ValueError(f"reps: must be >= 1, got {reps}")
    key = run_key(scenario, reps, seed)
    resolved, solved = resolve(scenario)
    workers = min(workers or os.cpu_count() or 1, reps)
    jobs = [(resolved, seed, rep) for rep in range(reps)]
    results: list[Replication] = []
    bar = tqdm(total=reps, desc=f"sim {scenario.name}", unit="rep", disable=not progress)
    if workers == 1:
        for job in jobs:
            results.append(_one(job))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for future in as_completed([pool.submit(_one, job) for job in jobs]):
                results.append(future.result())
                bar.update()
    bar.close()
    results.sort(key=lambda r: int(r.users["rep"].iloc[0]))
    tables = {
        name: pd.concat([getattr(r, name) for r in results], ignore_index=True)
        for name in TABLES
    }
    stats = pd.DataFrame([{"rep": i, **r.stats} for i, r in enumerate(results)])
    return SimRun(scenario=resolved, seed=seed, reps=reps, tables=tables, solved=solved,
                  stats=stats, key=key)


def write(result: SimRun, out: Path | None = None, timings: dict[str, float] | None = None
          ) -> Path:
    """Write a run folder: manifest.json plus one Parquet file per table."""
    assert result.scenario is not None
    path = new_run_dir("sim", out, tag=result.scenario.name)
    writer = RunWriter(path=path, kind="sim", parameters=result.scenario.to_dict(),
                       seed=result.seed)
    for name, frame in result.tables.items():
        writer.write_table(name, frame)
    writer.write_table("replication_stats", result.stats)
    writer.timings.update(timings or {})
    writer.extra.update({"scenario": result.scenario.name, "reps": result.reps,
                         "solved": result.solved})
    if result.key is not None:
        writer.extra["cache_key"] = result.key.to_dict()
    writer.finish()
    result.path = path
    return path


def load(path: Path | str) -> SimRun:
    """Read a sim run folder back into a :class:`SimRun`."""
    path = Path(path)
    manifest = read_manifest(path)
    if manifest.get("kind") != "sim":
        raise ValueError(f"{path} is a {manifest.get('kind')!r} run, not a sim run")
    # A folder written before a table existed (e.g. ``reach``) reads it back empty.
    tables = {name: _nanosecond_dates(pd.read_parquet(path / f"{name}.parquet"))
              if (path / f"{name}.parquet").is_file() else pd.DataFrame()
              for name in TABLES}
    stats = pd.read_parquet(path / "replication_stats.parquet")
    from sim.scenario import from_mapping

    params: dict[str, Any] = dict(manifest["parameters"])
    scenario = from_mapping(params, default_name=str(params.get("name", "custom")))
    recorded = manifest.get("cache_key")
    key = RunKey(key=recorded["key"], inputs=recorded["inputs"]) if recorded else None
    return SimRun(scenario=scenario, seed=int(manifest["seed"]), reps=int(manifest["reps"]),
                  tables=tables, solved=dict(manifest.get("solved", {})), stats=stats,
                  path=path, key=key)


def _nanosecond_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet keeps dates at a coarser unit; give them back as the model made them."""
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].astype("datetime64[ns]")
    return frame

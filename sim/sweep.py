"""Sweeps: a scenario over a grid of parameters, every point x replication one Dask task.

The tasks form one graph on a ``distributed`` cluster: a local one (worker processes on this
machine) unless a scheduler address is given. Each point's targets are solved once (a task the
replications depend on); replication ``r`` of a point is seeded exactly as replication ``r`` of
``sim run`` with that point's overrides, so a sweep's rows equal the plain runs' rows whichever
worker ran them. Results come back into tidy tables with the grid's keys as leading columns.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from distributed import Client, Future, LocalCluster, as_completed
from tqdm import tqdm

from sim import scenario as scenarios
from sim import sweep_outcomes
from sim.cache_key import code_fingerprint, run_key
from sim.grid import GridPoint, grid_points
from sim.model import Replication, run_replication
from sim.runner import TABLES, resolve
from sim.scenario import Scenario
from spaces_core.runfolder import RunWriter, new_run_dir, read_manifest

KIND = "sweep"
WORKER_WAIT_S = 60.0
CONNECT_TIMEOUT = "10s"


class SweepError(ValueError):
    """The cluster cannot run the sweep (unreachable, no workers, other code); one line."""


@dataclass
class SweepRun:
    """A sweep's tidy tables and what it ran: the sim's tables with the grid's keys as leading
    columns, plus ``outcomes`` (headline outputs per point and rep) and ``summary`` (bands)."""

    base: Scenario
    grid: dict[str, list[Any]]
    reps: int
    seed: int
    tables: dict[str, pd.DataFrame]
    points: list[dict[str, Any]] = field(default_factory=list)
    scheduler: str = ""
    workers: int = 0
    path: Path | None = None

    @property
    def keys(self) -> list[str]:
        return list(self.grid)

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables: dict[str, pd.DataFrame] = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a local cluster of worker processes
    (``workers``, default one per core), closed on exit."""
    if scheduler is not None:
        if workers is not None:
            raise SweepError("--workers: only for the local cluster; the scheduler's cluster "
                             "has its own workers")
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as error:
            raise SweepError(f"--scheduler {scheduler}: cannot connect ({error})") from error
        with client:
            yield client
        return
    # no dashboard; the scheduler's HTTP endpoints on any free loopback port, not 8787
    with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                      processes=True, host="127.0.0.1", dashboard_address=None,
                      scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def check_workers(client: Client) -> int:
    """Wait for a worker and make sure every worker runs this code and data; returns how many
    workers there are."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError as error:
        raise SweepError(f"scheduler {_address(client)}: no workers within "
                         f"{WORKER_WAIT_S:.0f} s") from error
    ours = code_fingerprint()
    try:
        theirs: dict[str, dict[str, Any]] = client.run(code_fingerprint)
    except Exception as error:  # whatever the remote import or call raised
        raise SweepError(f"a worker cannot run this sim ({type(error).__name__}: {error})"
                         ) from error
    for worker, fingerprint in sorted(theirs.items()):
        differing = [name for name in ours if fingerprint.get(name) != ours[name]]
        if differing:
            raise SweepError(f"worker {worker} runs other sim code or data (differing: "
                             f"{', '.join(differing)}); start workers from this checkout")
    return len(theirs)


def replicate(resolved: tuple[Scenario, dict[str, float]], seed: int, rep: int) -> Replication:
    """One replication of a point whose targets were solved by :func:`sim.runner.resolve`."""
    return run_replication(resolved[0], seed, rep)


def run_sweep(scenario: str, grid: Mapping[str, Sequence[Any]], reps: int = 8, seed: int = 1,
              overrides: Mapping[str, Mapping[str, Any]] | None = None,
              scheduler: str | None = None, workers: int | None = None,
              progress: bool = True) -> SweepRun:
    """Run ``reps`` replications of ``scenario`` at every point of ``grid`` on a Dask cluster.

    Raises :class:`~sim.scenario.ScenarioError` for a bad key or value (before any task runs)
    and :class:`SweepError` when the cluster cannot run it.
    """
    if reps < 1:
        raise ValueError(f"reps: must be >= 1, got {reps}")
    base = scenarios.load(scenario, overrides)
    points = grid_points(scenario, grid, overrides)
    keys = [run_key(point.scenario, reps, seed) for point in points]
    with dask_client(scheduler, workers) as client:
        n_workers = check_workers(client)
        address = _address(client)
        solved_futures = [client.submit(resolve, point.scenario, key=f"sim-resolve-{key.key}")
                          for point, key in zip(points, keys, strict=True)]
        replication_futures = {
            (point.index, rep): client.submit(replicate, solved_futures[point.index], seed, rep,
                                              key=f"sim-replication-{key.key}-{rep}")
            for point, key in zip(points, keys, strict=True) for rep in range(reps)
        }
        replications = _gather(replication_futures, progress, f"sweep {base.name}")
        solved = [future.result() for future in solved_futures]
    tables = _assemble(points, replications, reps)
    described = [
        {"values": point.values, "cache_key": key.to_dict(), "solved": point_solved}
        for point, key, (_, point_solved) in zip(points, keys, solved, strict=True)
    ]
    values = {name: [point.values[name] for point in points] for name in grid}
    return SweepRun(base=base, grid={name: list(dict.fromkeys(column))
                                     for name, column in values.items()},
                    reps=reps, seed=seed, tables=tables, points=described,
                    scheduler=address, workers=n_workers)


def _address(client: Client) -> str:
    return str(client.scheduler_info().get("address", ""))


def _gather(futures: Mapping[tuple[int, int], Future[Replication]], progress: bool,
            label: str) -> dict[tuple[int, int], Replication]:
    """Results as they finish (a failed task raises at once), with a progress bar."""
    slot = {future.key: where for where, future in futures.items()}
    results: dict[tuple[int, int], Replication] = {}
    with tqdm(total=len(futures), desc=label, unit="task", disable=not progress) as bar:
        for future in as_completed(list(futures.values())):
            results[slot[future.key]] = future.result()
            bar.update()
    return results


def _assemble(points: Sequence[GridPoint], replications: Mapping[tuple[int, int], Replication],
              reps: int) -> dict[str, pd.DataFrame]:
    """The sim's tables (point by point, rep by rep, as ``sim run`` concatenates them) with the
    grid's keys in front, replication stats, per-replication outcomes and their bands."""
    per_table: dict[str, list[pd.DataFrame]] = {name: [] for name in
                                                (*TABLES, "replication_stats", "outcomes")}
    for point in points:
        ours = [replications[(point.index, rep)] for rep in range(reps)]
        point_tables = {name: pd.concat([getattr(r, name) for r in ours], ignore_index=True)
                        for name in TABLES}
        point_tables["replication_stats"] = pd.DataFrame(
            [{"rep": rep, **r.stats} for rep, r in enumerate(ours)])
        point_tables["outcomes"] = sweep_outcomes.per_replication(
            point_tables["users"], point_tables["eligibility"], point_tables["rooms"],
            point_tables["revenue"], point_tables["reach"])
        for name, frame in point_tables.items():
            per_table[name].append(_with_keys(frame, point.values))
    tables = {name: pd.concat(frames, ignore_index=True) for name, frames in per_table.items()}
    tables["summary"] = sweep_outcomes.bands(tables["outcomes"], list(points[0].values))
    return tables


def _with_keys(frame: pd.DataFrame, values: Mapping[str, Any]) -> pd.DataFrame:
    keyed = frame.copy()
    for position, (name, value) in enumerate(values.items()):
        keyed.insert(position, name, value)
    return keyed


def sweep_key(result: SweepRun) -> str:
    """One key for the whole sweep: its points' cache keys, in order."""
    joined = "\n".join(point["cache_key"]["key"] for point in result.points)
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def write(result: SweepRun, out: Path | None = None, timings: Mapping[str, float] | None = None
          ) -> Path:
    """Write a run folder: manifest.json (grid, reps, seed, scheduler, versions, cache keys)
    plus one Parquet file per table."""
    path = new_run_dir(KIND, out, tag=result.base.name)
    writer = RunWriter(path=path, kind=KIND, parameters=result.base.to_dict(), seed=result.seed)
    for name, frame in result.tables.items():
        writer.write_table(name, frame)
    writer.timings.update(timings or {})
    writer.extra.update({
        "scenario": result.base.name,
        "grid": result.grid,
        "reps": result.reps,
        "scheduler": result.scheduler,
        "workers": result.workers,
        "sweep_key": sweep_key(result),
        "points": result.points,
        "outcomes": sweep_outcomes.OUTCOMES,
    })
    writer.finish()
    result.path = path
    return path


def load(path: Path | str) -> SweepRun:
    """Read a sweep run folder back (grid values as the manifest's JSON holds them)."""
    path = Path(path)
    manifest = read_manifest(path)
    if manifest.get("kind") != KIND:
        raise ValueError(f"{path} is a {manifest.get('kind')!r} run, not a sweep")
    tables = {name: pd.read_parquet(path / file) for name, file in manifest["tables"].items()}
    for frame in tables.values():
        for column in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[column]):
                frame[column] = frame[column].astype("datetime64[ns]")
    parameters: dict[str, Any] = dict(manifest["parameters"])
    base = scenarios.from_mapping(parameters, default_name=str(parameters.get("name", "custom")))
    return SweepRun(base=base, grid=dict(manifest["grid"]), reps=int(manifest["reps"]),
                    seed=int(manifest["seed"]), tables=tables, points=list(manifest["points"]),
                    scheduler=str(manifest["scheduler"]), workers=int(manifest["workers"]),
                    path=path)


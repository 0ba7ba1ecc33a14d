"""Measured capacity applied to projected demand: a mixer cost model and the fleet it implies,
two ways: load split freely across cores (``fleet``), and the busiest peak minute's rooms
placed with the server's own placement policy (``plan_peak``), the fleet the server could run.

The cost model says how many server cores a set of live rooms needs::

    load  = per_room * rooms + per_speaker * speakers + per_listener * listeners
    cores = load / (1 - per_process)

(a server is one asyncio process on one core, and ``per_process`` of each core goes to the
process's own upkeep), fitted on a mixer benchmark run folder:

- ``per_room`` and ``per_speaker``: least squares of the mixer's CPU per 20 ms tick against
  the number of speakers (1..13), divided by the 20 ms period (mixing and the N-1 encodes);
- ``per_listener``: least squares of the server process's cores against listeners, for the
  server's default fan-out, on the points the server carried without falling behind;
- ``per_process``: that regression's intercept less the benchmark room's own mixing. It also
  holds the benchmark speakers' receive path, which the benchmark cannot separate (two speakers
  only), so speaker-heavy rooms are somewhat underestimated: the swarm check shows by how much.

Fit quality is the R^2 of both regressions and, when a swarm run folder is given, the model's
prediction of that swarm's server cores (from the rooms, speakers and listeners the server
reported over time) against the cores the server really used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from media_bench.server.placement import PlacementLimits
from sim.peak_rooms import busiest_minute
from spaces_core.runfolder import latest_run, read_manifest, read_table
from spaces_lab.child import run_in_subprocess
from spaces_lab.placed_fleet import PlacedFleet, place, real_rooms

TICK_SECONDS = 0.020
BENCH_SPEAKERS = 2  # speakers in the benchmark's fan-out room
SPEAKING_ROLES = ("host", "cohost", "speaker")


@dataclass(frozen=True)
class CostModel:
    """Server cores per live room, per speaker and per listener, with the fit's quality."""

    per_room: float
    per_speaker: float
    per_listener: float
    per_process: float
    design: str
    tick_r2: float
    listener_r2: float
    listener_points: int
    source: str = ""

    def load(self, rooms: Any, speakers: Any, listeners: Any) -> Any:
        """Cores of mixing and sending work for this many rooms, speakers and listeners."""
        return (
            self.per_room * np.asarray(rooms)
            + self.per_speaker * np.asarray(speakers)
            + self.per_listener * np.asarray(listeners)
        )

    def cores(self, rooms: Any, speakers: Any, listeners: Any) -> Any:
        """Server cores (one process each) that carry that load."""
        return self.load(rooms, speakers, listeners) / (1.0 - self.per_process)

    @property
    def listeners_per_core(self) -> float:
        return 1.0 / self.per_listener if self.per_listener > 0 else math.inf

    def table(self) -> pd.DataFrame:
        """The model as a small tidy table for notebooks."""
        rows = [
            ("cores per live room", self.per_room, f"tick fit R^2 {self.tick_r2:.3f}"),
            ("cores per speaker", self.per_speaker, "tick slope: mixing and N-1 encode"),
            (
                "cores per listener",
                self.per_listener,
                f"fan-out fit R^2 {self.listener_r2:.3f} on {self.listener_points} points",
            ),
            (
                "share of a core for process upkeep",
                self.per_process,
                "fan-out intercept less the room's mixing",
            ),
            ("listeners per core", self.listeners_per_core, f"design {self.design}"),
        ]
        return pd.DataFrame(rows, columns=["quantity", "value", "basis"])


def placement_limits(model: CostModel) -> PlacementLimits:
    """The placement policy's limits from a fitted cost model: a worker's capacity is the
    listeners one core carries after its upkeep, and a room's and a speaker's costs are the
    model's, in listeners; relay cost and headroom keep the policy's defaults until
    ``spaces-lab bench cascade`` measures them."""
    per_listener = model.per_listener
    return PlacementLimits(
        listeners_per_worker=(1.0 - model.per_process) / per_listener,
        room_cost=model.per_room / per_listener,
        speaker_cost=model.per_speaker / per_listener,
    )


def _linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(intercept, slope, R^2) of least squares y = a + b x."""
    slope, intercept = np.polyfit(x, y, 1)
    predicted = intercept + slope * x
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - predicted) ** 2).sum()) / total if total > 0 else 1.0
    return float(intercept), float(slope), r2


def fit_cost_model(bench_run: Path, design: str | None = None) -> CostModel:
    """Fit the cost model on a ``spaces-lab bench mixer`` run folder."""
    ticks = read_table(bench_run, "tick_cost")
    fanout = read_table(bench_run, "fanout")
    if design is None:
        from media_bench.server.settings import Settings

        design = Settings().fanout
    room_ms, speaker_ms, tick_r2 = _linear_fit(
        ticks["speakers"].to_numpy(dtype=float), ticks["cpu_mean_ms"].to_numpy(dtype=float)
    )
    rows = fanout[(fanout["design"] == design) & ~fanout["saturated"].astype(bool)]
    if len(rows) < 2:
        raise ValueError(f"{bench_run}: fewer than two unsaturated {design} points to fit")
    base, per_listener, listener_r2 = _linear_fit(
        rows["listeners"].to_numpy(dtype=float), rows["server_cores"].to_numpy(dtype=float)
    )
    per_room = max(room_ms, 0.0) / 1e3 / TICK_SECONDS
    per_speaker = max(speaker_ms, 0.0) / 1e3 / TICK_SECONDS
    per_process = min(max(base - per_room - BENCH_SPEAKERS * per_speaker, 0.0), 0.9)
    return CostModel(
        per_room=per_room,
        per_speaker=per_speaker,
        per_listener=max(per_listener, 0.0),
        per_process=per_process,
        design=design,
        tick_r2=tick_r2,
        listener_r2=listener_r2,
        listener_points=len(rows),
        source=str(bench_run),
    )


def swarm_check(model: CostModel, swarm_run: Path) -> dict[str, float]:
    """The model's server cores for a swarm's load against the cores the server used."""
    metrics = read_table(swarm_run, "server_metrics")
    summary = read_manifest(swarm_run).get("summary", {})
    rooms = metrics[metrics["metric"] == "spaces_rooms_live"].groupby("t_s")["value"].sum()
    people = metrics[metrics["metric"] == "spaces_participants"]
    role = people["labels"].str.removeprefix("role=")
    speakers = people[role.isin(SPEAKING_ROLES)].groupby("t_s")["value"].sum()
    listeners = people[role == "listener"].groupby("t_s")["value"].sum()
    frame = pd.concat({"rooms": rooms, "speakers": speakers, "listeners": listeners}, axis=1)
    frame = frame.fillna(0.0)
    mean = frame.mean()
    # one server process: its upkeep plus the load
    predicted = model.per_process + float(
        model.load(mean["rooms"], mean["speakers"], mean["listeners"])
    )
    measured = float(summary.get("server_cores", math.nan))
    return {
        "rooms": float(mean["rooms"]),
        "speakers": float(mean["speakers"]),
        "listeners": float(mean["listeners"]),
        "predicted_cores": predicted,
        "measured_cores": measured,
        "error_pct": 100.0 * (predicted - measured) / measured if measured else math.nan,
    }


@dataclass(frozen=True)
class FleetParams:
    """How cores become servers and money (illustrative defaults: set your own)."""

    cores_per_server: int = 16
    target_utilisation: float = 0.6  # headroom for bursts and failover
    usd_per_server_hour: float = 0.70  # assumption: a 16-core cloud instance on demand
    hours_per_month: float = 730.0


def fleet(
    peaks: pd.DataFrame, model: CostModel, params: FleetParams = FleetParams()
) -> pd.DataFrame:
    """Cores, servers and monthly cost for peak-hour demand rows (rooms, speakers, listeners
    columns; any other columns, such as scenario, rep and period, are kept)."""
    out = peaks.copy()
    out["mixer_cores"] = model.cores(out["rooms"], out["speakers"], out["listeners"])
    out["cores_provisioned"] = out["mixer_cores"] / params.target_utilisation
    out["servers"] = np.ceil(out["cores_provisioned"] / params.cores_per_server)
    out["usd_per_month"] = out["servers"] * params.usd_per_server_hour * params.hours_per_month
    return out


def peak_demand(rooms: pd.DataFrame, freq: str = "M") -> pd.DataFrame:
    """Per replication and period, the busiest sampled hour's rooms, speakers and listeners
    (each the maximum over the period's sampled hours of its weighted per-minute peak)."""
    period = pd.to_datetime(rooms["date"]).dt.to_period(freq).dt.to_timestamp()
    grouped = (
        rooms.assign(period=period)
        .groupby(["rep", "period"], as_index=False)[
            ["live_rooms_peak", "speakers_peak", "listeners_peak"]
        ]
        .max()
    )
    return grouped.rename(
        columns={
            "live_rooms_peak": "rooms",
            "speakers_peak": "speakers",
            "listeners_peak": "listeners",
        }
    )


def ensure_bench(runs_dir: Path | str = "runs") -> Path:
    """The newest mixer benchmark run folder, or a quick one made now."""
    found = latest_run("bench", Path(runs_dir))
    if found is not None:
        return found
    out = Path(runs_dir) / "bench-notebook"
    run_in_subprocess("bench", "mixer", "--quick", "--out", str(out))
    return out


def ensure_swarm(sim_run: Path | None = None, runs_dir: Path | str = "runs") -> Path:
    """The newest swarm run folder, or a short one made now (replaying the sim's peak hour
    when a sim run is given)."""
    found = latest_run("swarm", Path(runs_dir))
    if found is not None:
        return found
    out = Path(runs_dir) / "swarm-notebook"
    from spaces_core.settings import quick_mode

    args = [
        "swarm",
        "--users",
        "14" if quick_mode() else "40",
        "--duration",
        "20" if quick_mode() else "45",
        "--out",
        str(out),
    ]
    if sim_run is not None:
        args += ["--shape", "sim-hour", "--sim-run", str(sim_run)]
    run_in_subprocess(*args, allowed=(0, 1))  # 1: a threshold exceeded, still a run folder
    return out


def default_cost_model() -> CostModel:
    """The cost model the placement limits' defaults stand for (no benchmark run needed):
    a listener 1/``listeners_per_worker`` of a core, a room and a speaker their costs in
    listeners, no upkeep."""
    limits = PlacementLimits()
    per_listener = 1.0 / limits.listeners_per_worker
    return CostModel(
        per_room=limits.room_cost * per_listener,
        per_speaker=limits.speaker_cost * per_listener,
        per_listener=per_listener,
        per_process=0.0,
        design="direct",
        tick_r2=math.nan,
        listener_r2=math.nan,
        listener_points=0,
        source="PlacementLimits defaults (no benchmark run)",
    )


FREE = "load splits freely"
PLACED = "placed (fill, then spill)"


@dataclass
class PlacedPlan:
    """The busiest simulated peak minute placed with the server's policy, costed with a
    fitted cost model, beside the old estimate that lets load split freely across cores."""

    placed: PlacedFleet
    model: CostModel
    rep: int
    date: pd.Timestamp
    minute: int

    @property
    def limits(self) -> PlacementLimits:
        return self.placed.limits

    def workers(self) -> pd.DataFrame:
        """One row per worker with its CPU from the cost model (``cpu_cores``, upkeep
        included: at most 1 when the limits come from the same model)."""
        table = self.placed.worker_table()
        model = self.model
        relay = self.limits.relay_cost_per_edge * model.per_listener
        table["cpu_cores"] = (
            model.load(table["rooms"], table["speakers"], table["listeners"])
            + relay * table["relays"]
            + model.per_process
        )
        return table

    def comparison(self) -> pd.DataFrame:
        """The fleet two ways, side by side, for the load the placed fleet carries: the old
        estimate (load splits freely across cores) and the placed fleet (the server's rule),
        their ratio, then the whole peak with rooms past one hop. Columns: quantity, load
        splits freely, placed (fill, then spill), placed / free, note."""
        rooms, model, placed = self.placed.rooms, self.model, self.placed
        per_node = placed.cores_per_node
        n_rooms, speakers = len(rooms), int(rooms["speakers"].sum())
        listeners = int(rooms["listeners"].sum())
        carried = int(rooms["placed_listeners"].sum())
        free_load = float(model.load(n_rooms, speakers, carried))
        free_cores = math.ceil(float(model.cores(n_rooms, speakers, carried)) - 1e-9)
        free_upkeep = free_cores * model.per_process
        workers = self.workers()
        work = float(model.load(workers["rooms"].sum(), workers["speakers"].sum(),
                                workers["listeners"].sum()))  # fmt: skip
        relays = int(workers["relays"].sum())
        relay = self.limits.relay_cost_per_edge * model.per_listener * relays
        upkeep = model.per_process * len(workers)
        whole_free = math.ceil(float(model.cores(n_rooms, speakers, listeners)) - 1e-9)
        whole_placed = len(workers) + int(rooms["extra_workers"].sum())
        rows: list[tuple[str, float, float, str]] = [
            ("rooms", n_rooms, n_rooms, "live at the busiest minute"),
            ("speakers", speakers, speakers, ""),
            ("listeners carried", carried, carried, "by one hop (rooms past it: below)"),
            ("relay links", 0, relays, "one per edge"),
            ("CPU of the work (cores)", free_load, work + relay,
             "per_room, per_speaker, per_listener; relay_cost_per_edge a link"),
            ("of which relays (cores)", 0.0, relay, ""),
            ("process upkeep (cores)", free_upkeep, upkeep, "per_process of each core"),
            ("cores (workers)", free_cores, len(workers), "one media process a core"),
            (f"nodes of {per_node} cores", math.ceil(free_cores / per_node), placed.nodes, ""),
            ("busy share of those cores (%)", 100 * (free_load + free_upkeep) / max(free_cores, 1),
             100 * (work + relay + upkeep) / max(len(workers), 1),
             "placed: slots kept for growth, spare on part-full workers"),
            ("listeners in the whole peak", listeners, listeners, ""),
            ("listeners past one hop", 0, listeners - carried, "a deeper cascade is not built"),
            ("cores for the whole peak (estimate)", whole_free, whole_placed,
             "placed: plus full edges for the listeners past one hop"),
        ]  # fmt: skip
        table = pd.DataFrame(rows, columns=["quantity", FREE, PLACED, "note"])
        ratio = table[PLACED] / table[FREE].where(table[FREE] != 0)
        table.insert(3, "placed / free", ratio.round(3))
        return table

    def sizes(self) -> pd.DataFrame:
        """Rooms by size (powers of ten of listeners): how many, how many cascaded, the
        workers and edges they took."""
        rooms = self.placed.rooms
        bucket = np.floor(np.log10(np.maximum(rooms["listeners"].to_numpy(), 1))).astype(int)
        label = pd.Series([f"{10**b:,}-{10 ** (b + 1) - 1:,}" for b in bucket], index=rooms.index)
        label[rooms["listeners"] == 0] = "0"
        grouped = rooms.assign(size=label, low=np.where(rooms["listeners"] > 0, 10.0**bucket, 0))
        out = grouped.groupby(["low", "size"]).agg(
            rooms=("room", "size"),
            listeners=("listeners", "sum"),
            cascaded=("edges", lambda e: int((e > 0).sum())),
            workers=("workers", "sum"),
            most_edges=("edges", "max"),
            beyond_one_hop=("depth_needed", lambda d: int((d > 1).sum())),
        )
        return out.reset_index(level="low", drop=True)


def plan_peak(
    peak_rooms: pd.DataFrame,
    model: CostModel | None = None,
    cores_per_node: int | None = None,
    limits: PlacementLimits | None = None,
) -> PlacedPlan:
    """Place the busiest minute of a sim run's ``peak_rooms`` table with the server's policy
    (limits from ``model``, or the given ones, or the defaults) on nodes of ``cores_per_node``
    workers (default: this machine's cores), and cost it with ``model``."""
    model = model or default_cost_model()
    if limits is None:
        limits = PlacementLimits() if model.listener_points == 0 else placement_limits(model)
    rows = busiest_minute(peak_rooms)
    placed = place(real_rooms(rows), limits, cores_per_node)
    first = rows.iloc[0]
    return PlacedPlan(placed, model, int(first["rep"]), pd.Timestamp(first["date"]),
                      int(first["minute"]))  # fmt: skip

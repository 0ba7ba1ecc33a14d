"""``spaces-lab plan``: the capacity plan that can be built, printed (and written)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from spaces_core.errors import CliError
from spaces_core.runfolder import DEFAULT_RUNS_DIR, RunWriter, latest_run, new_run_dir, read_table

DESCRIPTION = """\
Place a simulation's busiest peak minute, each room its own size, onto media workers (one a
core) and nodes with the server's own placement policy (fill, then spill, then grow: a room
opens where min_open_slots listeners still fit, an edge where min_edge_slots do), then cost
the placed fleet with the mixer cost model beside the old estimate that lets load split
freely across cores. Prints the fleet (workers, nodes), the rooms that needed a cascade and
how deep (one hop, origin to edges, is all that is built: a room that needs more is named),
the biggest room and where it went, and the two estimates side by side."""


def register(commands: Any) -> None:
    plan = commands.add_parser(
        "plan",
        help="the capacity plan: the sim's peak rooms placed on workers and nodes, costed",
        description=DESCRIPTION,
    )
    plan.add_argument(
        "--sim-run", type=Path, default=None,
        help="a simulation run folder (default: the newest sim-baseline-* under runs/, "
             "else the newest sim-*)",
    )  # fmt: skip
    plan.add_argument(
        "--bench", type=Path, default=None,
        help="a `bench mixer` run folder to fit the cost model and the placement limits on "
             "(default: the newest bench-* under runs/; without one, the limits' defaults)",
    )  # fmt: skip
    plan.add_argument(
        "--cores-per-node", type=int, default=None, metavar="N",
        help=f"workers (cores) per node (default: this machine's, {os.cpu_count() or 1})",
    )  # fmt: skip
    plan.add_argument(
        "--top", type=int, default=10, metavar="N",
        help="list the N biggest rooms with where they went (default: 10)",
    )  # fmt: skip
    plan.add_argument(
        "--out", type=Path, default=None,
        help="also write the tables (summary, comparison, sizes, rooms, workers) to this run "
             "folder",
    )  # fmt: skip
    plan.set_defaults(handler=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    from spaces_lab import capacity

    if args.cores_per_node is not None and args.cores_per_node < 1:
        raise CliError(f"--cores-per-node: must be >= 1, got {args.cores_per_node}")
    sim_run = args.sim_run or latest_run("sim-baseline") or latest_run("sim")
    if sim_run is None:
        raise CliError(
            f"no simulation run under {DEFAULT_RUNS_DIR}/: give --sim-run, or make one "
            "(spaces-lab sim run baseline --out runs/sim-baseline)"
        )
    try:
        peak_rooms = read_table(sim_run, "peak_rooms")
    except (FileNotFoundError, KeyError) as error:
        raise CliError(f"--sim-run {sim_run}: {error}") from error
    bench = args.bench or latest_run("bench")
    model = None
    if bench is not None:
        try:
            model = capacity.fit_cost_model(bench)
        except (FileNotFoundError, KeyError, ValueError) as error:
            raise CliError(f"--bench {bench}: {error}") from error
    started = time.perf_counter()
    plan = capacity.plan_peak(peak_rooms, model, args.cores_per_node)
    seconds = time.perf_counter() - started
    print_plan(plan, sim_run, args.top)
    print(f"(placed and costed in {seconds:.1f} s)")
    if args.out is not None:
        out = write_plan(plan, args.out, sim_run, seconds)
        print(f"run folder: {out}")
    return 0


def print_plan(plan: Any, sim_run: Path, top: int) -> None:
    limits = plan.limits
    print(
        f"capacity plan: {sim_run}, replication {plan.rep}, {plan.date:%Y-%m-%d} minute "
        f"{plan.minute} (UTC), cost model: {plan.model.source or plan.model.design}"
    )
    print(
        f"limits: {limits.listeners_per_worker:,.0f} listener-equivalents a worker; a room "
        f"{limits.room_cost:g}, a speaker {limits.speaker_cost:g}, a relay link "
        f"{limits.relay_cost_per_edge:g}; min_open_slots {limits.min_open_slots:g}, "
        f"min_edge_slots {limits.min_edge_slots:g}, origin_headroom {limits.origin_headroom:g}"
    )
    with pd.option_context("display.width", 160, "display.max_colwidth", 70):
        print("\n" + plan.placed.summary().to_string(index=False))
        print("\n" + plan.comparison().to_string(index=False, float_format=_number))
        print("\n" + plan.sizes().to_string())
        columns = ["room", "listeners", "speakers", "origin", "edges", "placed_listeners",
                   "depth_needed", "reason"]  # fmt: skip
        biggest = plan.placed.rooms.nlargest(top, "listeners")[columns]
        if top > 0 and len(biggest):
            print(f"\nthe {len(biggest)} biggest rooms:")
            print(biggest.to_string(index=False))


def write_plan(plan: Any, out: Path, sim_run: Path, seconds: float) -> Path:
    try:
        folder = new_run_dir("plan", out)
    except FileExistsError as error:
        raise CliError(f"--out: {error}") from error
    writer = RunWriter(
        folder,
        "plan",
        {"sim_run": str(sim_run), "cost_model": plan.model.source,
         "cores_per_node": plan.placed.cores_per_node, "limits": vars(plan.limits)},
    )  # fmt: skip
    for name, table in [
        ("summary", plan.placed.summary().astype({"value": str})),
        ("comparison", plan.comparison()),
        ("sizes", plan.sizes().reset_index()),
        ("rooms", plan.placed.rooms),
        ("workers", plan.workers()),
    ]:
        writer.write_table(name, table)
    writer.timings["plan"] = seconds
    writer.finish()
    return folder


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"

"""`spaces-lab sim ...`: list scenarios, run them, sweep them over a grid, plot a run folder."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from spaces_core.errors import CliError

DEFAULT_REPS = 8
DEFAULT_SEED = 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = commands.add_parser(
        "sim", help="growth / eligibility / rooms / revenue simulation",
        description="Simulate users, who may host, rooms and ticket revenue (2019-2023).",
    )
    sub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)

    listing = sub.add_parser("list", help="list scenarios with one-line descriptions")
    listing.set_defaults(handler=cmd_list)

    run = sub.add_parser(
        "run", help="run a scenario and write a run folder",
        description="Run Monte Carlo replications of a scenario in parallel and write a run "
                    "folder (manifest.json + Parquet tables).",
        epilog="example: spaces-lab sim run --scenario analyst-day --reps 16 --seed 7 "
               "--set tickets.store_fee=0.15",
    )
    run.add_argument("--scenario", default="baseline",
                     help="scenario name (see `sim list`) or path to a .toml file "
                          "(default: baseline)")
    run.add_argument("--reps", type=int, default=DEFAULT_REPS,
                     help=f"Monte Carlo replications (default: {DEFAULT_REPS})")
    run.add_argument("--seed", type=int, default=DEFAULT_SEED,
                     help=f"random seed; same seed, same numbers (default: {DEFAULT_SEED})")
    run.add_argument("--set", dest="overrides", action="append", default=[],
                     metavar="TABLE.FIELD=VALUE", help="override one parameter (repeatable)")
    run.add_argument("--out", type=Path, default=None,
                     help="run folder to create (default: runs/sim-<time>-<scenario>)")
    run.add_argument("--workers", type=int, default=None,
                     help="parallel processes (default: one per core)")
    run.add_argument("--no-plots", action="store_true", help="skip writing PNG charts")
    run.set_defaults(handler=cmd_run)

    sweep = sub.add_parser(
        "sweep", help="run a scenario over a grid of parameters on a Dask cluster",
        description="Run a scenario at every point of a grid of parameters, each point x "
                    "replication one task of one Dask graph: on a local cluster of worker "
                    "processes (one per core), or on a running cluster with --scheduler. "
                    "Replication r of a point is seeded as replication r of `sim run` with "
                    "that point's --set values and the same --seed, whichever worker runs it. "
                    "Writes a run folder: the sim's tables with the grid's keys as leading "
                    "columns, `outcomes` (mDAU in the last quarter, eligible hosts, peak "
                    "listeners, creator and platform revenue, Spaces' reach as daily unique "
                    "listeners / mDAU per point and replication), "
                    "`summary` (their mean and 10/50/90% bands per point), manifest.json "
                    "(grid, reps, seed, scheduler, versions, cache keys) and a PNG of each "
                    "output against each grid parameter.",
        epilog="example: spaces-lab sim sweep --scenario baseline "
               "--grid policy.threshold=100,300,600,1000 --grid tickets.store_fee=0.15,0.30 "
               "--reps 20 --seed 1 [--scheduler tcp://HOST:8786]",
    )
    sweep.add_argument("--scenario", default="baseline",
                       help="scenario name (see `sim list`) or path to a .toml file "
                            "(default: baseline)")
    sweep.add_argument("--grid", action="append", default=[], required=True,
                       metavar="TABLE.FIELD=V1,V2,...",
                       help="a parameter and its values (repeatable; the grid is every "
                            "combination)")
    sweep.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="TABLE.FIELD=VALUE",
                       help="override one parameter at every point (repeatable)")
    sweep.add_argument("--reps", type=int, default=DEFAULT_REPS,
                       help=f"replications per grid point (default: {DEFAULT_REPS})")
    sweep.add_argument("--seed", type=int, default=DEFAULT_SEED,
                       help=f"random seed, as in `sim run` (default: {DEFAULT_SEED})")
    sweep.add_argument("--out", type=Path, default=None,
                       help="run folder to create (default: runs/sweep-<time>-<scenario>)")
    sweep.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="a running Dask scheduler (`dask scheduler`, with `dask worker`s "
                            "started from this checkout); default: a local cluster")
    sweep.add_argument("--workers", type=int, default=None,
                       help="worker processes of the local cluster (default: one per core)")
    sweep.add_argument("--no-plots", action="store_true", help="skip writing PNG charts")
    sweep.set_defaults(handler=cmd_sweep)

    plot = sub.add_parser("plot", help="write PNG charts of a run folder")
    plot.add_argument("run", type=Path, help="a sim run folder")
    plot.add_argument("--out", type=Path, default=None,
                      help="folder for the PNGs (default: the run folder)")
    plot.set_defaults(handler=cmd_plot)


def cmd_list(args: argparse.Namespace) -> int:
    from sim import scenario

    rows = scenario.describe_all()
    width = max(len(name) for name, _, _ in rows)
    for name, description, _ in rows:
        print(f"{name:<{width}}  {description}")
    print(f"\n{len(rows)} scenarios; copy one from {rows[0][2].parent} into ./scenarios/ to edit")
    return 0


def _check_positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise CliError(f"--{name}: must be >= 1, got {value}")


def cmd_run(args: argparse.Namespace) -> int:
    from sim import plots, runner, scenario, summary

    _check_positive("reps", args.reps)
    _check_positive("workers", args.workers)
    if args.seed < 0:
        raise CliError(f"--seed: must be >= 0, got {args.seed}")
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise CliError(f"--out: {args.out} exists and is not empty; nothing was written")
    try:
        chosen = scenario.load(args.scenario, scenario.parse_overrides(args.overrides))
        started = time.perf_counter()
        result = runner.run(chosen, reps=args.reps, seed=args.seed, workers=args.workers)
    except (scenario.ScenarioError, ValueError) as error:
        raise CliError(str(error)) from error
    timings: dict[str, Any] = {"simulate": time.perf_counter() - started}
    path = runner.write(result, args.out, timings=timings)
    if not args.no_plots:
        plots.write_all(result, path)
    print(f"\nscenario {chosen.name}: {chosen.description}")
    for key, value in result.solved.items():
        print(f"solved {key} = {value:.4f}")
    table = summary.headline(result.users, result.eligibility, result.rooms, result.revenue)
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    print(f"\nrun folder: {path}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from sim import grid, scenario, sweep, sweep_outcomes, sweep_plots

    _check_positive("reps", args.reps)
    _check_positive("workers", args.workers)
    if args.seed < 0:
        raise CliError(f"--seed: must be >= 0, got {args.seed}")
    if args.scheduler is not None and args.workers is not None:
        raise CliError("--workers: only for the local cluster; the scheduler's cluster has "
                       "its own workers")
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise CliError(f"--out: {args.out} exists and is not empty; nothing was written")
    try:
        overrides = scenario.parse_overrides(args.overrides)
        values = grid.parse_grid(args.grid)
        started = time.perf_counter()
        result = sweep.run_sweep(args.scenario, values, reps=args.reps, seed=args.seed,
                                 overrides=overrides, scheduler=args.scheduler,
                                 workers=args.workers)
    except (scenario.ScenarioError, ValueError) as error:
        raise CliError(str(error)) from error
    path = sweep.write(result, args.out, timings={"sweep": time.perf_counter() - started})
    if not args.no_plots:
        sweep_plots.write_all(result, path)
    medians = result.summary.pivot_table(index=result.keys, columns="outcome", values="p50",
                                         sort=False)[list(sweep_outcomes.OUTCOMES)]
    workers = f"{result.workers} worker" + ("s" if result.workers != 1 else "")
    print(f"\nscenario {result.base.name}: {len(result.points)} points x {result.reps} reps "
          f"on {workers} ({result.scheduler})")
    print("median per point:")
    print(medians.to_string(float_format=lambda v: f"{v:,.1f}"))
    print(f"\nrun folder: {path}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from sim import plots, runner

    try:
        result = runner.load(args.run)
    except (FileNotFoundError, ValueError, KeyError) as error:
        raise CliError(str(error)) from error
    for target in plots.write_all(result, args.out or args.run):
        print(target)
    return 0

"""`spaces-lab run`: the main job on embedded defaults, with progress throughout."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from spaces_lab.cli import CliError

DEFAULT_REPS = 4
DEFAULT_SEED = 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run", help="the main job: simulate the default scenario, chart it, summarise",
        description="Run the default simulation (baseline scenario) with its charts and print "
                    "a one-screen summary. Everything lands in a run folder under runs/.",
    )
    run.add_argument("--reps", type=int, default=DEFAULT_REPS,
                     help=f"replications (default: {DEFAULT_REPS})")
    run.add_argument("--seed", type=int, default=DEFAULT_SEED,
                     help=f"random seed (default: {DEFAULT_SEED})")
    run.add_argument("--out", type=Path, default=None, help="run folder for the simulation")
    run.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from sim import plots, runner, scenario, summary

    if args.reps < 1:
        raise CliError(f"--reps: must be >= 1, got {args.reps}")
    started = time.perf_counter()
    print(f"[1/2] simulating the baseline scenario ({args.reps} replications, seed {args.seed})")
    result = runner.run(scenario.load("baseline"), reps=args.reps, seed=args.seed)
    runner.write(result, args.out)
    assert result.path is not None
    print("[2/2] charts")
    charts = plots.write_all(result, result.path)
    table = summary.headline(result.users, result.eligibility, result.rooms, result.revenue)
    print("\n" + table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    print(f"\nrun folder: {result.path}")
    print(f"charts:     {', '.join(c.name for c in charts)}")
    print(f"took {time.perf_counter() - started:.0f} s")
    return 0

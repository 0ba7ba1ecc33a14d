"""`spaces-lab run`: the main job on embedded defaults, with progress throughout.

1. the growth scenarios (baseline, analyst-day, spaces-boost), simulated in parallel;
2. a quick mixer benchmark (a real aiortc server against real peers on loopback);
3. a short Locust swarm replaying the baseline's projected peak hour;
4. the four notebooks executed into HTML reports under ``reports/``;
5. a one-screen summary of the headline figures, each run set against the previous run of its
   kind (``spaces-lab compare``): what moved beyond its noise band.

Every step writes a run folder under ``runs/``; the notebooks read those (a re-run of the
notebooks alone never simulates again).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from loadtests.swarm import SERVER_DATA
from spaces_core.errors import CliError
from spaces_core.runfolder import LEDGER_TABLE
from spaces_lab.child import run_in_subprocess

DEFAULT_REPS = 4
SCENARIOS = ("baseline", "analyst-day", "spaces-boost")
REPORTS = Path("reports")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="the main job: simulate, benchmark, swarm, notebooks into reports/",
        description="Run the main job on embedded defaults: the growth scenarios, a quick mixer "
        "benchmark, a short swarm on loopback, then the four notebooks as HTML "
        "reports under reports/, and a one-screen summary.",
    )
    run.add_argument(
        "--reps",
        type=int,
        default=DEFAULT_REPS,
        help=f"replications per scenario (default: {DEFAULT_REPS})",
    )
    run.add_argument("--swarm-users", type=int, default=40, help="users in the swarm (default: 40)")
    run.add_argument(
        "--swarm-duration", type=float, default=40.0, help="seconds of swarm (default: 40)"
    )
    run.add_argument(
        "--skip-media",
        action="store_true",
        help="skip the benchmark and the swarm (notebooks reuse older run folders)",
    )
    run.set_defaults(handler=cmd_run)


def _step(number: int, text: str) -> None:
    print(f"\n[{number}/5] {text}", flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    from sim import api
    from spaces_core.runfolder import new_run_dir
    from spaces_lab import capacity, notebooks

    if args.reps < 1:
        raise CliError(f"--reps: must be >= 1, got {args.reps}")
    started = time.perf_counter()
    _step(1, f"simulating {', '.join(SCENARIOS)} ({args.reps} replications each)")
    sims = {name: api.ensure_run(name, reps=args.reps) for name in SCENARIOS}
    if not args.skip_media:
        _step(2, "mixer benchmark (quick)")
        bench_dir = new_run_dir("bench")
        run_in_subprocess("bench", "mixer", "--quick", "--out", str(bench_dir))
        _step(
            3,
            f"swarm: {args.swarm_users} users for {args.swarm_duration:.0f} s, replaying "
            "the baseline's projected peak hour",
        )
        swarm_dir = new_run_dir("swarm", tag="sim-hour")
        # exit code 1: a swarm threshold was exceeded; the summary still reports it
        run_in_subprocess(
            "swarm",
            "--users",
            str(args.swarm_users),
            "--duration",
            str(args.swarm_duration),
            "--shape",
            "sim-hour",
            "--sim-run",
            str(sims["baseline"].path),
            "--out",
            str(swarm_dir),
            allowed=(0, 1),
        )
        run_in_subprocess(
            "ledger",
            "export",
            "--data-dir",
            str(swarm_dir / SERVER_DATA),
            "--out",
            str(swarm_dir / LEDGER_TABLE),
        )
    _step(4, "notebooks -> reports/")
    pages = []
    for notebook in notebooks.notebooks():
        print(f"  {notebook.name} ...", flush=True)
        book = notebooks.execute(notebook, workdir=Path.cwd())
        pages.append(notebooks.to_html(book, REPORTS / f"{notebook.stem}.html"))
    index = write_index(pages)
    _step(5, "summary")
    print_summary(sims, capacity, index, time.perf_counter() - started)
    return 0


def write_index(pages: list[Path]) -> Path:
    links = "\n".join(f'<li><a href="{p.name}">{p.stem.replace("_", " ")}</a></li>' for p in pages)
    index = REPORTS / "index.html"
    index.write_text(
        f"<!doctype html><title>Spaces Lab reports</title><h1>Spaces Lab reports"
        f"</h1><ul>{links}</ul>\n"
    )
    return index


def print_summary(sims: dict[str, Any], capacity: Any, index: Path, seconds: float) -> None:
    from sim import summary
    from spaces_core.runfolder import latest_run, read_manifest

    for name, run in sims.items():
        q = summary.mdau_vs_actuals(run.users).set_index("quarter").loc["2023Q4"]
        solved = ", ".join(f"{k} = {v:.3f}" for k, v in run.solved.items())
        print(
            f"mDAU 2023Q4 {name:13} median {q['p50']:6.1f}M (90%: {q['p05']:.1f}-"
            f"{q['p95']:.1f}M){'; solved ' + solved if solved else ''}"
        )
        if run.path is not None:
            against_previous(run.path)
    base = sims["baseline"]
    print(
        summary.headline(base.users, base.eligibility, base.rooms, base.revenue).to_string(
            index=False, float_format=lambda v: f"{v:,.0f}"
        )
    )
    bench = latest_run("bench")
    if bench is not None:
        model = capacity.fit_cost_model(bench)
        peaks = capacity.peak_demand(base.rooms, "M")
        last = capacity.fleet(peaks[peaks["period"] == peaks["period"].max()], model)
        print(
            f"mixer: {model.listeners_per_core:,.0f} listeners per core ({model.design} "
            f"fan-out); Dec 2023 baseline peak needs {last['servers'].median():,.0f} servers "
            f"(${last['usd_per_month'].median():,.0f} a month)"
        )
        placed = capacity.plan_peak(base.peak_rooms, model)
        numbers = dict(
            zip(placed.placed.summary()["quantity"], placed.placed.summary()["value"], strict=True)
        )
        print(
            f"placed (spaces-lab plan): busiest minute {placed.date:%Y-%m-%d}, "
            f"{numbers['rooms']:,} rooms on {numbers['workers']:,} workers, "
            f"{numbers['nodes']:,} nodes; {numbers['rooms cascaded']:,} cascaded, "
            f"{numbers['rooms needing more than one hop']:,} past one hop"
        )
        against_previous(bench)
    swarm = latest_run("swarm")
    if swarm is not None:
        s = read_manifest(swarm)["summary"]
        join, arrival = s["join_ms"], s["mouth_to_arrival_ms"]
        print(
            f"swarm: {s['requests']:,} requests, {s['failures']} failures; join p95 "
            f"{join.get('p95', float('nan')):.0f} ms; mouth-to-arrival p99 "
            f"{arrival.get('p99', float('nan')):.0f} ms; loss "
            f"{s['loss_per_mille'].get('mean', float('nan')) / 10:.2f}%"
        )
        against_previous(swarm)
    print(f"reports: {index.resolve()}  (took {seconds / 60:.1f} min)")


def against_previous(run: Path) -> None:
    """Print how the run compares with the previous run of its kind, when there is one."""
    from spaces_core.errors import SpacesLabError
    from spaces_core.runfolder import DEFAULT_RUNS_DIR
    from spaces_lab.compare_command import summary_lines

    try:
        lines = summary_lines(run, DEFAULT_RUNS_DIR)
    except (SpacesLabError, KeyError, ValueError, OSError) as error:
        lines = [f"  (not compared with the previous run: {error})"]
    for line in lines:
        print(line)

"""`spaces-lab swarm`: a headless Locust swarm against a server, in one command.

Starts a server on loopback unless ``--server`` names one, runs Locust headless with the
project's locustfile (plus a load shape), samples the server's ``/metrics`` meanwhile, stops
everything and writes a run folder: Locust's CSV and HTML report, tidy tables of the stats and
of the metrics over time, and a manifest with the headline figures.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import loadtests
from loadtests import replay_plan, replay_report, soak
from loadtests.heard import heard_table
from loadtests.metrics_sampler import MetricsSampler
from loadtests.names import (
    AUDIO,
    BY_ROOM,
    EXCEEDED,
    JITTER,
    JOIN_TIME,
    LOSS,
    MARKS_LOST,
    MOUTH_TO_ARRIVAL,
    MOUTH_TO_EAR,
    RELATIVE_DELAY,
    UNCHECKED,
)
from loadtests.network import check_impairment_options, directions
from loadtests.replay_plan import REPLAY_TAIL_S, WINDOW_MIN, ReplayPlan, ReplaySpec, speedup_for
from loadtests.room_sampler import RoomSampler
from loadtests.swarm_options import add_swarm_options, locust_flags
from media_bench.client.janus_census import JanusCensus
from media_bench.client.netns import unavailable as namespace_unavailable
from media_bench.client.process_meter import reap_measured
from media_bench.client.server_process import ServerProcess
from media_bench.client.targets import OURS
from media_bench.client.yardstick import codec_reference
from spaces_core.errors import CliError
from spaces_core.runfolder import RunWriter, new_run_dir

if TYPE_CHECKING:
    from media_bench.client.janus_target import JanusServer

PACKAGE_DIR = Path(loadtests.__file__).resolve().parent
LOCUSTFILE = PACKAGE_DIR / "locustfile.py"
SHAPES = {
    "none": None,
    "ramp": PACKAGE_DIR / "shape_ramp.py",
    "storm": PACKAGE_DIR / "shape_storm.py",
    "sim-hour": PACKAGE_DIR / "shape_sim_hour.py",
}
MAX_DURATION_S = 24 * 3600
"""The longest swarm: a soak of a day."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    swarm = commands.add_parser(
        "swarm", help="load-test the server with a Locust swarm of real WebRTC clients",
        description="Run a headless Locust swarm (hosts, speakers, listeners with real aiortc "
                    "peers) against a server on loopback, started for the run unless --server "
                    "is given; writes a run folder with Locust's CSV/HTML and /metrics samples.",
        epilog="examples: spaces-lab swarm --users 60 --duration 60 --shape storm\n"
               "          spaces-lab swarm --shape sim-hour --sim-run runs/sim-... --users 80 "
               "--speedup 60   (the sim's peak hour, room by room, in a minute)",
    )
    swarm.add_argument("--users", type=int, default=40, help="peak simulated users (default 40)")
    swarm.add_argument("--spawn-rate", type=float, default=5.0,
                       help="users started per second without a shape (default 5)")
    swarm.add_argument("--duration", type=float, default=45.0,
                       help=f"seconds of load (default 45; up to {MAX_DURATION_S // 3600} "
                            "hours: a soak, whose memory growth is judged; the sim-hour shape: "
                            "the hour in this long unless --speedup is given)")
    swarm.add_argument("--shape", choices=sorted(SHAPES), default="ramp",
                       help="load shape (default ramp)")
    swarm.add_argument("--server", default=None,
                       help="URL of a running server (default: start one on loopback)")
    swarm.add_argument("--processes", type=int, default=1,
                       help="Locust worker processes on this machine (default 1; -1 for one "
                            "per core)")
    swarm.add_argument("--expect-workers", type=int, default=0,
                       help="also wait for this many load generators started elsewhere with "
                            "--master-host, then drive them all (default 0)")
    swarm.add_argument("--master-bind-host", default="*",
                       help="interface the master listens on for --expect-workers (default *)")
    swarm.add_argument("--master-host", default="",
                       help="be a load generator for the swarm whose master runs on this host "
                            "(its --expect-workers); the master starts the load and the run "
                            "folder has the merged figures")
    swarm.add_argument("--master-port", type=int, default=5557,
                       help="the master's port (default 5557)")
    add_swarm_options(swarm)
    swarm.add_argument("--max-leak-mb-per-hour", type=float, default=soak.LEAK_MB_PER_HOUR,
                       help="fail when the server's or the load generator's memory grows "
                            "faster while the load holds, in a window of at least "
                            f"{soak.MIN_WINDOW_S:.0f} s (default {soak.LEAK_MB_PER_HOUR:g})")
    swarm.add_argument("--out", type=Path, default=None, help="run folder (default runs/...)")
    swarm.set_defaults(handler=cmd_swarm)


@dataclass
class SwarmResult:
    path: Path
    exit_code: int
    summary: dict[str, Any]


def cmd_swarm(args: argparse.Namespace) -> int:
    check_arguments(args)
    if args.master_host:
        return run_load_generator(args)
    result = run_swarm(args)
    print_summary(result)
    return result.exit_code


def check_arguments(args: argparse.Namespace) -> None:
    if args.shape == "sim-hour":
        args.speedup = speedup_for(args.speedup, args.duration)
        if not 1 <= args.speedup <= 720:
            raise CliError(f"--speedup: must be between 1 and 720, got {args.speedup:g}")
        args.duration = WINDOW_MIN * 60 / args.speedup
    if args.users < 3:
        raise CliError(f"--users: must be >= 3, got {args.users}")
    if args.rooms < 1 or args.rooms >= args.users:
        raise CliError(f"--rooms: must be between 1 and --users - 1, got {args.rooms}")
    if not 5 <= args.duration <= MAX_DURATION_S:
        raise CliError(f"--duration: must be between 5 and {MAX_DURATION_S} seconds, "
                       f"got {args.duration}")
    if args.max_leak_mb_per_hour <= 0:
        raise CliError(f"--max-leak-mb-per-hour: must be > 0, got {args.max_leak_mb_per_hour}")
    if args.spawn_rate <= 0:
        raise CliError(f"--spawn-rate: must be > 0, got {args.spawn_rate}")
    if args.probe_every < 0:
        raise CliError(f"--probe-every: must be >= 0, got {args.probe_every}")
    if args.full_probe_every < 0:
        raise CliError(f"--full-probe-every: must be >= 0, got {args.full_probe_every}")
    if args.processes == 0 or args.processes < -1:
        raise CliError(f"--processes: must be >= 1 or -1, got {args.processes}")
    if args.expect_workers < 0:
        raise CliError(f"--expect-workers: must be >= 0, got {args.expect_workers}")
    if args.master_host and args.expect_workers:
        raise CliError("--master-host: a load generator cannot also be a master "
                       "(--expect-workers)")
    if args.expect_workers and args.processes != 1:
        raise CliError("--processes: a master with --expect-workers runs no users itself; "
                       "start local load generators with --master-host 127.0.0.1")
    if not 0 < args.master_port < 65536:
        raise CliError(f"--master-port: must be a port number, got {args.master_port}")
    if args.sim_run and not (Path(args.sim_run) / "manifest.json").is_file():
        raise CliError(f"--sim-run: {args.sim_run} is not a run folder")
    check_impairment_options(args)
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise CliError(f"--out: {args.out} exists and is not empty; nothing was written")
    if args.target != OURS:
        if args.server:
            raise CliError(f"--server: not with --target {args.target} (the swarm starts it)")
        reason = namespace_unavailable()
        if reason:
            raise CliError(f"--target {args.target}: {reason}")
    if args.shape == "sim-hour":
        replay_of(args)


def replay_of(args: argparse.Namespace) -> ReplayPlan:
    """The plan the sim-hour shape replays (the Locust process makes the same from the same
    options: it is deterministic)."""
    spec = ReplaySpec(users=args.users, rooms=args.replay_rooms, speedup=args.speedup,
                      seed=args.seed)
    try:
        return replay_plan.from_run(Path(args.sim_run) if args.sim_run else None, spec)
    except (ValueError, FileNotFoundError) as bad:
        raise CliError(str(bad) if str(bad).startswith("--") else f"--sim-run: {bad}") from bad


def locust_command(args: argparse.Namespace, url: str, folder: Path) -> list[str]:
    files = str(LOCUSTFILE)
    shape = SHAPES[args.shape]
    if shape is not None:
        files += f",{shape}"
    # the sim-hour shape stops the run itself, a little after the hour
    seconds = math.ceil(args.duration + (REPLAY_TAIL_S + 5 if args.shape == "sim-hour" else 0))
    command = [
        sys.executable, "-m", "locust", "-f", files, "--headless", "--host", url,
        "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{seconds}s",
        "--stop-timeout", "15", "--csv", str(folder / "locust"), "--csv-full-history",
        "--html", str(folder / "report.html"), "--only-summary", "--exit-code-on-error", "0",
        *locust_flags(args),
    ]
    if args.processes != 1:
        command += ["--processes", str(args.processes)]
    if args.expect_workers:
        command += ["--master", "--expect-workers", str(args.expect_workers),
                    "--expect-workers-max-wait", str(WORKERS_WAIT),
                    "--master-bind-host", args.master_bind_host,
                    "--master-bind-port", str(args.master_port)]
    return command


def run_load_generator(args: argparse.Namespace) -> int:
    """Be Locust workers (``--processes`` of them) of a master elsewhere until it quits; the
    folder holds their log; their CPU is printed."""
    folder = new_run_dir("swarm-worker", args.out, tag=args.master_host)
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
               "--master-host", args.master_host, "--master-port", str(args.master_port),
               *locust_flags(args)]
    if args.processes != 1:
        command += ["--processes", str(args.processes)]
    print(f"load generator for the master at {args.master_host}:{args.master_port} "
          f"(log: {folder / 'locust.log'})", flush=True)
    started = time.monotonic()
    with (folder / "locust.log").open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        cpu = reap_measured(process, timeout=args.duration + 600)
    wall = time.monotonic() - started
    # the master hands its own options to its workers, --samples-dir included
    print(f"load generator done: {cpu:.1f} CPU seconds in {wall:.0f} s ({cpu / wall:.2f} "
          f"cores); raw audio figures in the master's samples folder (that path, here)")
    return 0 if process.returncode == 0 else 1


WORKERS_WAIT = 60
"""Seconds a master waits for its --expect-workers load generators before giving up."""

SERVER_DATA = "server-data"
"""The started server's data folder inside the run folder: its ledger outlives the run
(``spaces-lab ledger export --data-dir RUN/server-data``)."""


def run_swarm(args: argparse.Namespace) -> SwarmResult:
    folder = new_run_dir("swarm", args.out, tag=args.shape)
    writer = RunWriter(path=folder, kind="swarm", parameters={
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
        if k != "handler"})
    writer.extra["machine_yardstick"] = codec_reference()
    server: ServerProcess | JanusServer | None = None
    if args.target != OURS:
        from media_bench.client.janus_target import janus_server  # aiortc: only when used

        server = janus_server(args.target, log=folder / "janus.log")
        print(f"starting {server.label} in a network namespace (log: {folder / 'janus.log'})",
              flush=True)
    elif not args.server:
        server = ServerProcess(["--data-dir", str(folder / SERVER_DATA)],
                               log=folder / "server.log")
        print(f"starting a server on loopback (log: {server.log})", flush=True)
    url = args.server or ""
    if server is not None:
        server.start()
        url = server.url
    read = None if args.target == OURS else JanusCensus(url).metrics_text
    sampler = MetricsSampler(url, read=read, every_s=soak.sample_interval(args.duration))
    sampler.start()
    if not args.samples_dir:
        args.samples_dir = str(folder / "samples")
    plan = replay_of(args) if args.shape == "sim-hour" else None
    rooms = RoomSampler(url) if plan is not None else None
    if rooms is not None:
        rooms.start()
    command = locust_command(args, url, folder)
    print(f"swarm: {args.users} users, {args.duration:.0f} s, shape {args.shape}, {url}",
          flush=True)
    if server is not None:
        sampler.watch("server", server.pid)
    loadgen_cpu = float("nan")
    started = time.monotonic()
    try:
        with (folder / "locust.log").open("w") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            sampler.watch("loadgen", process.pid)
            loadgen_cpu = reap_measured(process, timeout=args.duration + 120 + WORKERS_WAIT)
            locust: subprocess.CompletedProcess[bytes] = subprocess.CompletedProcess(
                command, process.returncode)
    finally:
        wall = time.monotonic() - started
        sampler.stop()
        if rooms is not None:
            rooms.stop()
        server_cpu = server.stop() if server is not None else float("nan")
    stats = read_stats(folder)
    metrics = sampler.frame()
    samples = read_samples(Path(args.samples_dir), load_processes(args))
    writer.write_table("stats", stats)
    writer.write_table("audio_samples", samples)
    writer.write_table("server_metrics", metrics)
    heard = heard_table(stats)
    writer.write_table("heard", heard)
    history = folder / "locust_stats_history.csv"
    if history.is_file():
        writer.write_table("history", pd.read_csv(history))
    summary = summarise(stats, metrics, wall=wall, loadgen_cpu=loadgen_cpu,
                        server_cpu=server_cpu, duration=args.duration)
    summary["steady"] = steady_state(metrics, hold_from=args.duration * HOLD_FROM_SHARE,
                                     hold_until=args.duration)
    uplink, downlink = directions(args)
    summary["impairment"] = {"uplink": str(uplink), "downlink": str(downlink),
                             "seed": args.impair_seed}
    summary["heard"] = heard.to_dict("records")
    summary["load_processes"] = process_cores(metrics, "loadgen")
    summary["samples"] = pooled(samples)
    fits = memory_growth(writer, metrics, args)
    summary["memory"] = soak.summary_of(fits)
    if plan is not None and rooms is not None:
        summary["replay"] = write_replay(writer, plan, rooms.frame(),
                                         (folder / "locust.log").read_text())
    summary["locust_exit_code"] = locust.returncode
    summary["verdict_lines"] = [line.strip() for line in (folder / "locust.log").read_text()
                                .splitlines() if line.startswith((EXCEEDED, UNCHECKED))]
    leaks = [fit for fit in fits if fit.leak]
    summary["verdict_lines"] += [f"{EXCEEDED}: {fit.describe()}" for fit in leaks]
    writer.timings["swarm"] = wall
    writer.extra["summary"] = summary
    writer.finish()
    failed = bool(locust.returncode) or bool(leaks)
    return SwarmResult(path=folder, exit_code=1 if failed else 0, summary=summary)


def memory_growth(writer: RunWriter, metrics: pd.DataFrame, args: argparse.Namespace
                  ) -> list[soak.MemoryFit]:
    """The memory of each process tree over the run (table ``memory``), its growth per hour
    while the load held (table ``memory_fit``) and a chart (``memory.png``)."""
    memory = soak.memory_series(metrics)
    fits = soak.fit_all(memory, soak.load_window(metrics, args.duration),
                        args.max_leak_mb_per_hour)
    writer.write_table("memory", memory)
    writer.write_table("memory_fit", pd.DataFrame([vars(fit) for fit in fits]))
    if fits:
        soak.memory_chart(memory, fits, writer.path / "memory.png")
    return fits


REPLAY_CLOCK = re.compile(r"replay clock started at epoch ([0-9.]+)")
"""The line the replay prints when its clock starts (``replay_users``)."""


def write_replay(writer: RunWriter, plan: ReplayPlan, samples: pd.DataFrame, log: str
                 ) -> dict[str, Any]:
    """The plan, the planned-vs-achieved shape (tables and chart); returns the headline."""
    for name in ("rooms", "sessions", "events", "rates"):
        writer.write_table(f"plan_{name}", getattr(plan, name))
    writer.write_table("replay_samples", samples)
    clock = REPLAY_CLOCK.search(log)
    if clock is None:
        return {"error": "the replay's clock never started (see locust.log)"}
    shape = replay_report.shape_table(plan, samples, float(clock.group(1)))
    peak = replay_report.at_peak(plan, shape)
    writer.write_table("replay_shape", shape)
    writer.write_table("replay_peak", peak)
    replay_report.chart(plan, shape, peak, writer.path / "replay_shape.png")
    return replay_report.headline(plan, peak)


def read_stats(folder: Path) -> pd.DataFrame:
    """Locust's stats CSV as a tidy table (one row per request type and name)."""
    raw = pd.read_csv(folder / "locust_stats.csv")
    renamed = raw.rename(columns={
        "Type": "type", "Name": "name", "Request Count": "requests",
        "Failure Count": "failures", "Median Response Time": "median",
        "Average Response Time": "mean", "Min Response Time": "min",
        "Max Response Time": "max", "Requests/s": "per_s",
    })
    renamed = renamed.rename(columns=lambda c: f"p{c.rstrip('%')}" if c.endswith("%") else c)
    keep = ["type", "name", "requests", "failures", "mean", "median", "min", "max", "per_s",
            "p50", "p95", "p99"]
    out = renamed[[c for c in keep if c in renamed.columns]].copy()
    out["type"] = out["type"].fillna("")
    return out


def load_processes(args: argparse.Namespace) -> int:
    """How many processes run users: the workers of a master, else this machine's."""
    if args.expect_workers:
        return int(args.expect_workers)
    return (os.cpu_count() or 1) if args.processes == -1 else int(args.processes)


SAMPLES_WAIT = 15.0
"""Seconds to wait for every load process's samples file (workers write theirs as they quit,
which may be after the master has)."""


def read_samples(folder: Path, processes: int) -> pd.DataFrame:
    """Every audio figure every load process wrote (``samples``): process, name, value.
    Waits up to SAMPLES_WAIT for ``processes`` files."""
    deadline = time.monotonic() + SAMPLES_WAIT
    while len(list(folder.glob("audio-*.csv"))) < processes and time.monotonic() < deadline:
        time.sleep(0.2)
    tables = [pd.read_csv(path).assign(process=path.stem.removeprefix("audio-"))
              for path in sorted(folder.glob("audio-*.csv"))]
    if not tables:
        return pd.DataFrame({"process": pd.Series(dtype=str), "name": pd.Series(dtype=str),
                             "value": pd.Series(dtype=float)})
    return pd.concat(tables, ignore_index=True)[["process", "name", "value"]]


def pooled(samples: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per figure: the count, the processes that reported it and the percentiles of all
    samples pooled (raw values, where Locust's are of values rounded to two digits)."""
    out: dict[str, dict[str, float]] = {}
    for name, group in samples.groupby("name"):
        values = group["value"].to_numpy(dtype=float)
        out[str(name)] = {"count": float(len(values)),
                          "processes": float(group["process"].nunique()),
                          "mean": float(values.mean()),
                          **{f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)}}
    return out


def process_cores(metrics: pd.DataFrame, label: str) -> dict[str, float]:
    """Cores each process of the ``label`` tree used while it was sampled, by pid."""
    prefix = f"process={label},pid="
    cpu = metrics[(metrics["metric"] == "process_cpu_seconds")
                  & metrics["labels"].str.startswith(prefix)]
    out: dict[str, float] = {}
    for labels, series in cpu.groupby("labels"):
        series = series.sort_values("t_s")
        span = float(series["t_s"].iloc[-1] - series["t_s"].iloc[0])
        if span > 0:
            used = float(series["value"].iloc[-1] - series["value"].iloc[0])
            out[str(labels).removeprefix(prefix)] = used / span
    return out


def _row(stats: pd.DataFrame, name: str) -> dict[str, float]:
    found = stats[(stats["type"] == AUDIO) & (stats["name"] == name)]
    if found.empty:
        return {}
    return {str(k): float(v) for k, v in found.iloc[0].items() if k not in ("type", "name")}


def summarise(stats: pd.DataFrame, metrics: pd.DataFrame, wall: float, loadgen_cpu: float,
              server_cpu: float, duration: float) -> dict[str, Any]:
    total = stats[stats["name"] == "Aggregated"]
    # the per-room copies of the audio figures are not more requests
    copies = int(stats.loc[stats["type"] == BY_ROOM, "requests"].sum())
    requests = int(total["requests"].iloc[0]) - copies if not total.empty else 0
    failures = int(total["failures"].iloc[0]) if not total.empty else 0
    listeners = metrics[(metrics["metric"] == "spaces_participants")
                        & (metrics["labels"] == "role=listener")]
    over_time = listeners.groupby("t_s")["value"].sum()
    peak_listeners = int(over_time.max()) if len(over_time) else 0
    # listeners held per CPU-second: listener-seconds over the run / CPU-seconds spent
    listener_seconds = float(np.trapezoid(over_time.to_numpy(), over_time.index.to_numpy())
                             ) if len(over_time) > 1 else 0.0
    loadgen_cores = loadgen_cpu / wall if wall > 0 else float("nan")
    server_cores = server_cpu / wall if wall > 0 else float("nan")
    return {
        "requests": requests,
        "failures": failures,
        "join_ms": _row(stats, JOIN_TIME),
        "mouth_to_arrival_ms": _row(stats, MOUTH_TO_ARRIVAL),
        "mouth_to_ear_ms": _row(stats, MOUTH_TO_EAR),
        "loss_per_mille": _row(stats, LOSS),
        "marks_lost_per_mille": _row(stats, MARKS_LOST),
        "jitter_ms": _row(stats, JITTER),
        "relative_delay_ms": _row(stats, RELATIVE_DELAY),
        "peak_listeners": peak_listeners,
        "loadgen_cores": loadgen_cores,
        "server_cores": server_cores,
        "listener_seconds": listener_seconds,
        "listeners_per_loadgen_core": listener_seconds / loadgen_cpu if loadgen_cpu else 0.0,
        "listeners_per_server_core": listener_seconds / server_cpu if server_cpu else 0.0,
        "wall_s": wall,
        "duration_s": duration,
    }


HOLD_FROM_SHARE = 0.6  # the ramp shape holds from 60% of the run; storm users are all in by then


def steady_state(metrics: pd.DataFrame, hold_from: float, hold_until: float) -> dict[str, float]:
    """Listeners held per core of each process while the load holds, from ``hold_from`` to
    ``hold_until`` seconds (the end of the load, before the users stop): listener-seconds in
    the window divided by the CPU-seconds each process spent in it."""
    listeners = metrics[(metrics["metric"] == "spaces_participants")
                        & (metrics["labels"] == "role=listener")].groupby("t_s")["value"].sum()
    window = listeners[(listeners.index >= hold_from) & (listeners.index <= hold_until)]
    out: dict[str, float] = {"from_s": hold_from, "to_s": hold_until,
                             "listeners_mean": float(window.mean()) if len(window) else 0.0}
    if len(window) < 2:
        return out
    t0, t1 = float(window.index.min()), float(window.index.max())
    listener_seconds = float(np.trapezoid(window.to_numpy(), window.index.to_numpy()))
    cpu = metrics[metrics["metric"] == "process_cpu_seconds"]
    for label in ("loadgen", "server"):
        series = cpu[cpu["labels"] == f"process={label}"].set_index("t_s")["value"]
        inside = series[(series.index >= t0) & (series.index <= t1)]
        if len(inside) >= 2:
            spent = float(inside.iloc[-1] - inside.iloc[0])
            out[f"{label}_cores"] = spent / float(inside.index[-1] - inside.index[0])
            out[f"listeners_per_{label}_core"] = listener_seconds / spent if spent > 0 else 0.0
    return out


def print_summary(result: SwarmResult) -> None:
    s = result.summary

    def pct(row: dict[str, float], *keys: str) -> str:
        return ", ".join(f"{k} {row[k]:.0f} ms" for k in keys if k in row) or "none measured"

    share = s["failures"] / s["requests"] if s["requests"] else 0.0
    print(f"requests {s['requests']:,}, failures {s['failures']:,} ({share:.2%})")
    print(f"join, offer to first audio: {pct(s['join_ms'], 'p50', 'p95')}")
    print(f"mouth to arrival: {pct(s['mouth_to_arrival_ms'], 'p50', 'p99')}; "
          f"mouth to ear: {pct(s['mouth_to_ear_ms'], 'p50', 'p99')}; relative delay "
          f"(no shared clock needed): {pct(s.get('relative_delay_ms', {}), 'p50', 'p99')}")
    loss = s["loss_per_mille"].get("mean", float("nan")) / 10
    marks_lost = s.get("marks_lost_per_mille", {}).get("mean", float("nan")) / 10
    print(f"packet loss {loss:.3f}% (mean of windows), jitter "
          f"{s['jitter_ms'].get('mean', float('nan')):.1f} ms, timing marks lost "
          f"{marks_lost:.1f}% (mean of windows)")
    print(f"peak listeners {s['peak_listeners']}; {s['listener_seconds']:,.0f} listener-seconds "
          f"on {s['loadgen_cores']:.2f} load-generator cores and {s['server_cores']:.2f} server "
          f"cores (run averages)")
    print(f"listeners per load-generator core {s['listeners_per_loadgen_core']:,.0f}; "
          f"per server core {s['listeners_per_server_core']:,.0f} (whole server: hosts, "
          f"speakers, mixing and control calls included)")
    steady = s.get("steady", {})
    if "listeners_per_loadgen_core" in steady:
        print(f"steady state {steady['from_s']:.0f}-{steady['to_s']:.0f} s "
              f"({steady['listeners_mean']:.0f} listeners): "
              f"{steady['listeners_per_loadgen_core']:,.0f} listeners per load-generator core "
              f"({steady['loadgen_cores']:.2f} cores), "
              f"{steady.get('listeners_per_server_core', 0):,.0f} per server core "
              f"({steady.get('server_cores', float('nan')):.2f} cores)")
    network = s.get("impairment", {})
    print(f"network: uplink {network.get('uplink', 'none')}, downlink "
          f"{network.get('downlink', 'none')} (seed {network.get('seed', '-')})")
    heard = pd.DataFrame(s.get("heard", []))
    if not heard.empty:
        print("what participants heard, by role and room (loss and jitter: means of windows; "
              "MOS: E-model estimate):")
        print(heard.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    cores = s.get("load_processes", {})
    if cores:
        print("load processes (cores): " + ", ".join(
            f"pid {pid} {used:.2f}" for pid, used in sorted(cores.items())))
    for fit in s.get("memory", {}).values():
        print(soak.MemoryFit(**fit).describe())
    replay = s.get("replay")
    if replay is not None:
        print(replay.get("error") or replay_report.describe(replay)
              + " (replay_shape.png, replay_peak)")
    for line in s["verdict_lines"]:
        print(line)
    print(f"verdict: {'PASS' if result.exit_code == 0 else 'FAIL'}")
    print(f"run folder: {result.path} (report.html, locust_stats.csv)")

"""``spaces-lab bench mixer``: its options and their checks."""

from __future__ import annotations

import argparse
from pathlib import Path

from media_bench.client.netns import unavailable as namespace_unavailable
from media_bench.client.targets import OURS, TARGETS, target_help
from media_bench.server.event_loop import EVENT_LOOPS
from media_bench.server.options import FANOUTS, add_codec_arguments, check_codec_arguments
from media_bench.server.placement import PlacementLimits
from media_bench.server.settings import Settings
from spaces_core.errors import CliError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = commands.add_parser("bench", help="benchmarks of the mixing core")
    which = bench.add_subparsers(dest="bench", metavar="BENCH", required=True)
    mixer = which.add_parser(
        "mixer",
        help="tick cost, listeners per core vs the naive design, join time, latency, memory",
        description="Benchmark the mixing server; writes a run folder and prints a summary.",
    )
    mixer.add_argument("--out", type=Path, default=None, help="run folder (default runs/...)")
    mixer.add_argument("--quick", action="store_true", help="small smoke run (< ~60 s)")
    mixer.add_argument(
        "--listeners", default=None, help="comma-separated listener counts, shared fan-out"
    )
    mixer.add_argument(
        "--naive-listeners", default=None, help="comma-separated listener counts, naive design"
    )
    mixer.add_argument(
        "--designs",
        default=",".join(FANOUTS),
        help=f"fan-out designs to measure (default {','.join(FANOUTS)})",
    )
    mixer.add_argument(
        "--target",
        choices=sorted(TARGETS),
        default=OURS,
        help="also measure another server after this one, same listeners and windows, and "
        f"print both servers' listeners per core side by side ({target_help()}; Janus is "
        "installed with apt when missing and runs in a network namespace: needs root)",
    )
    mixer.add_argument("--window", type=float, default=None, help="seconds measured per point")
    mixer.add_argument(
        "--event-loop",
        choices=EVENT_LOOPS,
        default=Settings().event_loop,
        help="the server's event loop (default %(default)s; compare two runs for the other)",
    )
    add_codec_arguments(mixer)
    mixer.add_argument("--seed", type=int, default=0, help="seed of the user directory")
    mixer.set_defaults(handler=run_bench_mixer)
    register_cascade(which)


def register_cascade(which: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cascade = which.add_parser(
        "cascade",
        help="edge vs one-process CPU per listener, relay hop latency, largest room, relay cost",
        description="Benchmark the origin-to-edge cascade of `serve --workers N` against one "
        "process (--workers 0) in one run; writes a run folder (tables, manifest and "
        "placement_limits.json) and prints the figures against the issue's targets. The "
        "defaults take a few minutes.",
    )
    cascade.add_argument("--out", type=Path, default=None, help="run folder (default runs/...)")
    cascade.add_argument("--quick", action="store_true", help="small smoke run (< ~90 s)")
    cascade.add_argument(
        "--listeners",
        default=None,
        help="comma-separated listener counts of the edge-vs-direct ramp (default 50,100,200,300)",
    )
    cascade.add_argument(
        "--room-steps",
        default=None,
        help="comma-separated listener counts of the one-room ramps (default 100..2000)",
    )
    cascade.add_argument(
        "--room-worker-listeners",
        type=float,
        default=None,
        help="--worker-listeners of the --workers 2 one-room ramp (default: the direct "
        "listeners per core this run measures, the origin kept by --origin-headroom to its "
        "share of the room the cores hold beside the load generator at the one-process "
        "ramp's CPU per listener)",
    )
    cascade.add_argument("--window", type=float, default=None, help="seconds measured per point")
    add_codec_arguments(cascade)
    cascade.add_argument("--seed", type=int, default=0, help="seed of the user directory")
    cascade.set_defaults(handler=run_bench_cascade)


def parse_counts(text: str | None, default: list[int], flag: str) -> list[int]:
    if text is None:
        return default
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise CliError(f"{flag} must be comma-separated integers") from error
    if not counts or any(c < 1 or c > 5000 for c in counts):
        raise CliError(f"{flag} must list counts between 1 and 5000")
    return sorted(set(counts))


def run_bench_mixer(args: argparse.Namespace) -> int:
    from media_bench.client.bench import run_bench
    from media_bench.client.bench_config import BenchConfig

    config = BenchConfig.quick() if args.quick else BenchConfig.full()
    config.listeners = parse_counts(args.listeners, config.listeners, "--listeners")
    config.naive_listeners = parse_counts(
        args.naive_listeners, config.naive_listeners, "--naive-listeners"
    )
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = [d for d in designs if d not in FANOUTS]
    if unknown or not designs:
        raise CliError(f"--designs must list {', '.join(FANOUTS)} (any of them)")
    by_name = {name: name for name in FANOUTS}
    config.designs = [by_name[d] for d in dict.fromkeys(designs)]
    if args.window is not None:
        if not 1.0 <= args.window <= 600:
            raise CliError("--window must be between 1 and 600 seconds")
        config.window = args.window
    check_codec_arguments(args)
    config.speaker_complexity = args.speaker_complexity
    config.bitrate, config.complexity, config.seed = args.bitrate, args.complexity, args.seed
    config.event_loop = args.event_loop
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise CliError(f"--out {args.out} exists and is not empty")
    if args.target != OURS:
        reason = namespace_unavailable()
        if reason:
            raise CliError(f"--target {args.target}: {reason}")
    config.target = args.target
    run_bench(config, args.out)
    return 0


def run_bench_cascade(args: argparse.Namespace) -> int:
    from media_bench.client.bench_config import CascadeConfig
    from media_bench.client.cascade import run_cascade

    config = CascadeConfig.quick() if args.quick else CascadeConfig.full()
    bench = config.bench
    bench.listeners = parse_counts(args.listeners, bench.listeners, "--listeners")
    config.room_steps = parse_counts(args.room_steps, config.room_steps, "--room-steps")
    if args.room_worker_listeners is not None:
        least = PlacementLimits().least_worker_listeners
        if not least <= args.room_worker_listeners <= 100_000:
            raise CliError(
                f"--room-worker-listeners must be at least {least:g} (what a room needs "
                "to open, and an edge) and at most 100000"
            )
        config.room_worker_listeners = args.room_worker_listeners
    if args.window is not None:
        if not 1.0 <= args.window <= 600:
            raise CliError("--window must be between 1 and 600 seconds")
        bench.window = args.window
    check_codec_arguments(args)
    bench.speaker_complexity = args.speaker_complexity
    bench.bitrate, bench.complexity, bench.seed = args.bitrate, args.complexity, args.seed
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise CliError(f"--out {args.out} exists and is not empty")
    run_cascade(config, args.out)
    return 0

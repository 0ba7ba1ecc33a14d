"""``spaces-lab serve`` and ``spaces-lab bench mixer``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from dataclasses import replace
from pathlib import Path

from media_bench.settings import Settings
from spaces_lab.cli import CliError, dispatch


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the WebRTC audio-room server (JSON API, /metrics, /openapi.json)",
        description="Run the live audio-room server: one asyncio process on one core.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free)")
    add_settings_arguments(serve)
    serve.set_defaults(handler=run_serve)

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
        default="shared,direct,naive",
        help="fan-out designs to measure (default shared,direct,naive)",
    )
    mixer.add_argument("--window", type=float, default=None, help="seconds measured per point")
    mixer.add_argument("--bitrate", type=int, default=32_000, help="Opus bitrate (bits/s)")
    mixer.add_argument(
        "--complexity", type=int, default=5, help="Opus complexity of the listener mix"
    )
    mixer.add_argument(
        "--speaker-complexity", type=int, default=0, help="Opus complexity of N-1 mixes"
    )
    mixer.add_argument("--seed", type=int, default=0, help="seed of the user directory")
    mixer.set_defaults(handler=run_bench_mixer)


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    parser.add_argument(
        "--host-threshold",
        type=int,
        default=defaults.host_threshold,
        help=f"followers needed to create a room (default {defaults.host_threshold})",
    )
    parser.add_argument(
        "--bitrate", type=int, default=defaults.bitrate, help="Opus bitrate, bits/s"
    )
    parser.add_argument(
        "--complexity",
        type=int,
        default=defaults.complexity,
        help=f"Opus complexity 0..10 of the listener mix (default {defaults.complexity})",
    )
    parser.add_argument(
        "--speaker-complexity",
        type=int,
        default=defaults.speaker_complexity,
        help=f"Opus complexity 0..10 of each N-1 mix (default {defaults.speaker_complexity})",
    )
    parser.add_argument(
        "--fanout",
        choices=["shared", "direct", "naive"],
        default=defaults.fanout,
        help="direct: one encode per tick, the same packets written straight to each "
        "listener's SRTP session (default); shared: the same packets fanned out through "
        "aiortc senders; naive: aiortc encodes per listener",
    )
    parser.add_argument("--users", type=Path, default=None, help="user directory CSV or JSON")
    parser.add_argument(
        "--generate-users",
        type=int,
        default=defaults.users,
        help="users to generate from the follower distribution when --users is not given",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed for generated users")
    parser.add_argument(
        "--token-ttl", type=float, default=defaults.token_ttl, help="token lifetime, seconds"
    )
    parser.add_argument(
        "--max-body", type=int, default=defaults.max_body, help="largest request body, bytes"
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """Validated settings; CliError names the first bad field."""
    if args.host_threshold < 0:
        raise CliError("--host-threshold must be >= 0")
    if not 6_000 <= args.bitrate <= 510_000:
        raise CliError("--bitrate must be between 6000 and 510000 bits/s")
    if not 0 <= args.complexity <= 10:
        raise CliError("--complexity must be between 0 and 10")
    if not 0 <= args.speaker_complexity <= 10:
        raise CliError("--speaker-complexity must be between 0 and 10")
    if args.generate_users < 1:
        raise CliError("--generate-users must be >= 1")
    if args.token_ttl <= 0:
        raise CliError("--token-ttl must be > 0")
    if args.max_body < 1024:
        raise CliError("--max-body must be >= 1024")
    if args.users is not None and not args.users.is_file():
        raise CliError(f"--users {args.users}: no such file")
    # A fixed secret (shared by several server processes) only when asked for.
    secret = os.environ.get("SPACES_LAB_SECRET", "")
    settings = Settings(
        host_threshold=args.host_threshold,
        bitrate=args.bitrate,
        complexity=args.complexity,
        speaker_complexity=args.speaker_complexity,
        fanout=args.fanout,
        users=args.generate_users,
        users_file=args.users,
        seed=args.seed,
        token_ttl=args.token_ttl,
        max_body=args.max_body,
    )
    return replace(settings, secret=secret.encode()) if secret else settings


def run_serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise CliError("--port must be between 0 and 65535")
    settings = settings_from(args)
    from media_bench.harness import running_server
    from media_bench.users import UserDirectory

    try:
        users = UserDirectory.load(settings.users_file) if settings.users_file is not None else None
    except (ValueError, OSError) as error:
        raise CliError(f"--users: {error}") from error

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with running_server(settings, users, host=args.host, port=args.port) as run:
                print(f"spaces-lab serve: listening on {run.url}", flush=True)
                print(f"the Spaces page: {run.url}/", flush=True)
                await stop.wait()
        except OSError as error:
            raise CliError(f"--host/--port: cannot listen: {error.strerror}") from error

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


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
    from media_bench.bench import BenchConfig, run_bench

    config = BenchConfig.quick() if args.quick else BenchConfig.full()
    config.listeners = parse_counts(args.listeners, config.listeners, "--listeners")
    config.naive_listeners = parse_counts(
        args.naive_listeners, config.naive_listeners, "--naive-listeners"
    )
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = [d for d in designs if d not in ("shared", "direct", "naive")]
    if unknown or not designs:
        raise CliError("--designs must list shared, direct and/or naive")
    config.designs = list(dict.fromkeys(designs))
    if args.window is not None:
        if not 1.0 <= args.window <= 600:
            raise CliError("--window must be between 1 and 600 seconds")
        config.window = args.window
    if not 6_000 <= args.bitrate <= 510_000:
        raise CliError("--bitrate must be between 6000 and 510000 bits/s")
    if not 0 <= args.complexity <= 10:
        raise CliError("--complexity must be between 0 and 10")
    if not 0 <= args.speaker_complexity <= 10:
        raise CliError("--speaker-complexity must be between 0 and 10")
    config.speaker_complexity = args.speaker_complexity
    config.bitrate, config.complexity, config.seed = args.bitrate, args.complexity, args.seed
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise CliError(f"--out {args.out} exists and is not empty")
    run_bench(config, args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m media_bench``): the same subcommands, without the sim."""
    parser = argparse.ArgumentParser(prog="python -m media_bench")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return dispatch(parser, argv)

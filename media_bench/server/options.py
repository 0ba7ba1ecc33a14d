"""The server's command-line options, declared once: ``spaces-lab serve`` and
``python -m media_bench.server`` take them all, ``spaces-lab bench mixer`` the codec ones."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import get_args

from sqlalchemy.exc import SQLAlchemyError

from media_bench.server.event_loop import EVENT_LOOPS
from media_bench.server.event_loop import run as run_on_loop
from media_bench.server.placement import PlacementLimits
from media_bench.server.settings import FANOUT_SUMMARIES, FanOut, Settings
from media_bench.server.store.engine import (
    DATA_DIR_ENV,
    check_url,
    default_data_dir,
    first_line,
    shown,
)
from media_bench.server.store.migrations import MigrationError
from sim.policy import PolicyParams
from spaces_core.commands import dispatch
from spaces_core.errors import CliError

FANOUTS: tuple[FanOut, ...] = get_args(FanOut)
SECRET_ENV = "SPACES_LAB_SECRET"
"""A fixed token-signing secret (shared by several server processes), only when set."""


def add_codec_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    parser.add_argument(
        "--bitrate",
        type=int,
        default=defaults.bitrate,
        help=f"Opus bitrate, bits/s (default {defaults.bitrate})",
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


def check_codec_arguments(args: argparse.Namespace) -> None:
    """CliError naming the first bad codec option."""
    if not 6_000 <= args.bitrate <= 510_000:
        raise CliError("--bitrate must be between 6000 and 510000 bits/s")
    if not 0 <= args.complexity <= 10:
        raise CliError("--complexity must be between 0 and 10")
    if not 0 <= args.speaker_complexity <= 10:
        raise CliError("--speaker-complexity must be between 0 and 10")


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    # exclusive by a check in settings_from, so that both is a one-line error like the others
    parser.add_argument(
        "--host-threshold",
        type=int,
        default=None,
        help=f"followers needed to create a room (default {defaults.host_threshold})",
    )
    parser.add_argument(
        "--policy-date",
        default=None,
        metavar="YYYY-MM-DD",
        help="take the follower threshold from the simulation's policy timeline on this date "
        "(not with --host-threshold)",
    )
    add_codec_arguments(parser)
    parser.add_argument(
        "--fanout",
        choices=FANOUTS,
        default=defaults.fanout,
        help="; ".join(f"{name}: {summary}" for name, summary in FANOUT_SUMMARIES.items())
        + f" (default {defaults.fanout})",
    )
    parser.add_argument(
        "--event-loop",
        choices=EVENT_LOOPS,
        default=defaults.event_loop,
        help=f"event loop of the server's processes (default {defaults.event_loop})",
    )
    parser.add_argument("--users", type=Path, default=None, help="user directory CSV or JSON")
    parser.add_argument(
        "--generate-users",
        type=int,
        default=defaults.users,
        help="users to generate from the follower distribution when --users is not given",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed for generated users")
    add_worker_arguments(parser)
    parser.add_argument(
        "--token-ttl", type=float, default=defaults.token_ttl, help="token lifetime, seconds"
    )
    parser.add_argument(
        "--max-body", type=int, default=defaults.max_body, help="largest request body, bytes"
    )
    parser.add_argument(
        "--event-stall-timeout",
        type=float,
        default=defaults.event_stall_timeout,
        help="seconds an event stream may take to write one event before it is closed "
        f"(default {defaults.event_stall_timeout:g})",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=defaults.rate_per_second,
        help=f"requests per second per user, on average (default {defaults.rate_per_second:g})",
    )
    parser.add_argument(
        "--rate-burst",
        type=int,
        default=defaults.rate_burst,
        help=f"requests per user at once before --rate-limit applies "
        f"(default {defaults.rate_burst})",
    )
    add_storage_arguments(parser)


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """How many media worker processes, and what one carries before listeners spill."""
    cores = os.cpu_count() or 1
    parser.add_argument(
        "--workers",
        type=int,
        default=cores,
        help=f"media worker processes, one per core (default: this machine's {cores}); "
        "0: mix every room in the API process itself (one process, one core)",
    )
    parser.add_argument(
        "--worker-listeners",
        type=float,
        default=PlacementLimits().listeners_per_worker,
        help="listener sessions one worker carries before further listeners of a room spill "
        f"to an edge worker (default {PlacementLimits().listeners_per_worker:g}, measured by "
        "`spaces-lab bench mixer`)",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="the URL other nodes on the same --database reach this node's API at "
        "(default: the --host and --port it listens on)",
    )
    parser.add_argument(
        "--origin-headroom",
        type=float,
        default=PlacementLimits().origin_headroom,
        help="listener-equivalents a room's origin keeps free of listeners, for later speakers "
        f"and relay links (default {PlacementLimits().origin_headroom:g}); a large value makes "
        "a room's listeners spill to edges early (`spaces-lab bench cascade` does)",
    )
    parser.add_argument(
        "--relay-host",
        default=Settings().relay_host,
        help="address the workers' relay and control endpoints bind; other nodes must reach "
        f"it (default {Settings().relay_host})",
    )


def add_storage_arguments(parser: argparse.ArgumentParser) -> None:
    """Where rooms, tickets, bans, messages and the token secret are kept."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder of the SQLite database (default: $" + DATA_DIR_ENV + ", else "
        "$XDG_DATA_HOME/spaces-lab, else ~/.local/share/spaces-lab; now "
        f"{default_data_dir()})",
    )
    parser.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="a database URL instead of the data folder, e.g. postgresql://user@host/db",
    )
    parser.add_argument(
        "--secret",
        default=None,
        help=f"token-signing secret (default: ${SECRET_ENV}, else the one kept in the "
        "database, so tokens survive a restart)",
    )


def storage_from(args: argparse.Namespace) -> tuple[Path | None, str | None]:
    """(data folder, database URL): exactly one is set; CliError names a bad option."""
    if args.database is not None and args.data_dir is not None:
        raise CliError("--database and --data-dir: give one of them")
    if args.database is not None:
        try:
            check_url(args.database)
        except ValueError as error:
            raise CliError(f"--database: {error}") from error
        return None, args.database
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
    if data_dir.exists() and not data_dir.is_dir():
        raise CliError(f"--data-dir {data_dir}: not a folder")
    return data_dir, None


def threshold_on(day: date, policy: PolicyParams | None = None) -> int:
    """Followers needed to host on ``day`` under the policy timeline; CliError when nobody
    could host that day by followers alone (before the beta, or its invite-only testers)."""
    policy = policy or PolicyParams()
    threshold = policy.threshold_on(day)
    if threshold is None:
        raise CliError(
            f"--policy-date {day}: before Spaces' beta ({policy.beta_start}) nobody could host"
        )
    if math.isinf(threshold):
        raise CliError(
            f"--policy-date {day}: Spaces was an invite-only beta until "
            f"{policy.threshold_date}; no follower threshold applied"
        )
    return math.ceil(threshold)


def host_threshold_of(args: argparse.Namespace) -> int:
    if args.policy_date is not None and args.host_threshold is not None:
        raise CliError("--policy-date and --host-threshold are mutually exclusive")
    if args.policy_date is not None:
        try:
            day = date.fromisoformat(args.policy_date)
        except ValueError:
            raise CliError(
                f"--policy-date must be a date YYYY-MM-DD, got {args.policy_date!r}"
            ) from None
        return threshold_on(day)
    if args.host_threshold is None:
        return Settings().host_threshold
    if args.host_threshold < 0:
        raise CliError("--host-threshold must be >= 0")
    return int(args.host_threshold)


def settings_from(args: argparse.Namespace) -> Settings:
    """Validated settings; CliError names the first bad field."""
    host_threshold = host_threshold_of(args)
    check_codec_arguments(args)
    if args.generate_users < 1:
        raise CliError("--generate-users must be >= 1")
    if args.token_ttl <= 0:
        raise CliError("--token-ttl must be > 0")
    if args.max_body < 1024:
        raise CliError("--max-body must be >= 1024")
    if not args.event_stall_timeout > 0:
        raise CliError("--event-stall-timeout must be > 0")
    if not args.rate_limit > 0:
        raise CliError("--rate-limit must be > 0")
    if args.rate_burst < 1:
        raise CliError("--rate-burst must be >= 1")
    if args.users is not None and not args.users.is_file():
        raise CliError(f"--users {args.users}: no such file")
    if args.secret is not None and not args.secret:
        raise CliError("--secret must not be empty")
    if args.workers < 0:
        raise CliError("--workers must be >= 0")
    if not args.worker_listeners > 0:
        raise CliError("--worker-listeners must be > 0")
    if args.public_url is not None and not args.public_url.startswith(("http://", "https://")):
        raise CliError("--public-url must start with http:// or https://")
    if not 0 <= args.origin_headroom < args.worker_listeners:
        raise CliError("--origin-headroom must be >= 0 and below --worker-listeners")
    secret = args.secret or os.environ.get(SECRET_ENV, "")
    data_dir, database = storage_from(args)
    settings = Settings(
        host_threshold=host_threshold,
        bitrate=args.bitrate,
        complexity=args.complexity,
        speaker_complexity=args.speaker_complexity,
        fanout=args.fanout,
        event_loop=args.event_loop,
        users=args.generate_users,
        users_file=args.users,
        seed=args.seed,
        token_ttl=args.token_ttl,
        max_body=args.max_body,
        data_dir=data_dir,
        database=database,
        event_stall_timeout=args.event_stall_timeout,
        rate_per_second=args.rate_limit,
        rate_burst=args.rate_burst,
        workers=args.workers,
        relay_host=args.relay_host,
        public_url=args.public_url,
        placement=replace(
            PlacementLimits(),
            listeners_per_worker=args.worker_listeners,
            origin_headroom=args.origin_headroom,
        ),
    )
    return replace(settings, secret=secret.encode()) if secret else settings


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Everything ``serve`` takes: where to listen and the server's settings."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free)")
    add_settings_arguments(parser)
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise CliError("--port must be between 0 and 65535")
    settings = settings_from(args)
    from media_bench.server.harness import running_server
    from media_bench.server.users import UserDirectory

    try:
        users = UserDirectory.load(settings.users_file) if settings.users_file is not None else None
    except (ValueError, OSError) as error:
        raise CliError(f"--users: {error}") from error
    if settings.data_dir is not None:
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CliError(f"--data-dir {settings.data_dir}: {error.strerror}") from error

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with running_server(settings, users, host=args.host, port=args.port) as run:
                print(f"spaces-lab serve: listening on {run.url}", flush=True)
                print(f"the Spaces page: {run.url}/", flush=True)
                media = (
                    f"{settings.workers} media worker processes"
                    if settings.workers
                    else ("media mixed in this process (--workers 0)")
                )
                print(f"media: {media}; node {run.server.node.node_id}", flush=True)
                where = settings.data_dir if settings.database is None else shown(settings.database)
                print(f"data: {where}", flush=True)
                await stop.wait()
        except (SQLAlchemyError, MigrationError) as error:
            reason = first_line(error)
            raise CliError(f"--database/--data-dir: cannot open the database: {reason}") from error
        except OSError as error:
            raise CliError(f"--host/--port: cannot listen: {error.strerror}") from error

    with contextlib.suppress(KeyboardInterrupt):
        run_on_loop(serve(), settings.event_loop)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m media_bench.server``): the server and nothing else."""
    parser = argparse.ArgumentParser(
        prog="python -m media_bench.server",
        description="Run the live audio-room server: one asyncio process on one core.",
    )
    add_serve_arguments(parser)
    return dispatch(parser, argv)

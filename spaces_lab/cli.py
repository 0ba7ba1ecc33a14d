"""The `spaces-lab` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from loadtests import swarm
from media_bench.client import bench_command
from media_bench.server import options as serve_options
from sim import cli as sim_cli
from spaces_core import __version__
from spaces_core.commands import dispatch
from spaces_lab import compare_command, ledger_command, main_job, plan_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spaces-lab",
        description="Simulate, serve, benchmark and load-test live audio rooms.",
    )
    parser.add_argument("--version", action="version", version=f"spaces-lab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    main_job.register(commands)
    sim_cli.register(commands)
    serve = commands.add_parser(
        "serve",
        help="run the WebRTC audio-room server (JSON API, /metrics, /openapi.json)",
        description="Run the live audio-room server: one asyncio process on one core.",
    )
    serve_options.add_serve_arguments(serve)
    bench_command.register(commands)
    swarm.register(commands)
    ledger_command.register(commands)
    plan_command.register(commands)
    compare_command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

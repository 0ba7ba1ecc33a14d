"""The `spaces-lab` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from collections.abc import Sequence

from spaces_lab import __version__


class CliError(Exception):
    """A user error: printed as one line, exit status 2, nothing changed."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spaces-lab",
        description="Simulate, serve, benchmark and load-test live audio rooms.",
    )
    parser.add_argument("--version", action="version", version=f"spaces-lab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from sim import cli as sim_cli
    from spaces_lab import main_job

    main_job.register(commands)
    sim_cli.register(commands)
    for module in ("media_bench.cli", "loadtests.swarm"):
        try:
            importlib.import_module(module).register(commands)
        except ModuleNotFoundError:  # a part still being built is left out of the CLI
            continue
    return parser


def run_in_subprocess(*args: str, allowed: tuple[int, ...] = (0,)) -> int:
    """Run ``spaces-lab ARGS`` in a child process (its own CPU accounting, its own Locust
    patching); an exit code outside ``allowed`` is a :class:`CliError`."""
    result = subprocess.run([sys.executable, "-m", "spaces_lab.cli", *args], check=False)
    if result.returncode not in allowed:
        raise CliError(f"`spaces-lab {' '.join(args)}` failed with exit code {result.returncode}")
    return result.returncode


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse, run the chosen subcommand's handler; a CliError is one line and exit status 2."""
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except CliError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spaces-lab: interrupted", file=sys.stderr)
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())

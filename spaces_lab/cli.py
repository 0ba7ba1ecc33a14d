"""The `spaces-lab` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
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

    sim_cli.register(commands)
    try:
        from media_bench import cli as media_cli
    except ImportError:  # the mixing core is optional while it is being built
        media_cli = None  # type: ignore[assignment]
    if media_cli is not None and hasattr(media_cli, "register"):
        media_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except CliError as error:
        print(f"spaces-lab: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spaces-lab: interrupted", file=sys.stderr)
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())

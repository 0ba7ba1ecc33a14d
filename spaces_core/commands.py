"""Running an argparse command line whose handlers may raise :class:`CliError`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from spaces_core.errors import CliError


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse, run the chosen subcommand's handler; a CliError is one line and exit status 2."""
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except CliError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    return result

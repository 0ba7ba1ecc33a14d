"""``spaces-lab ledger export``: a server's tickets ledger as CSV or parquet."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from media_bench.server.store.engine import (
    DATABASE_FILE,
    check_url,
    database_url,
    default_data_dir,
    first_line,
)
from media_bench.server.store.export import FORMATS, export_tickets
from media_bench.server.store.migrations import MigrationError
from spaces_core.errors import CliError


def register(commands: Any) -> None:
    ledger = commands.add_parser(
        "ledger",
        help="the server's tickets ledger",
        description="Read the tickets ledger a server kept (its data folder or database).",
    )
    actions = ledger.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="write the tickets ledger as a table (CSV or parquet)",
        description="One row per ticket sold: room, host, buyer, price_usd, store_usd, "
        "creator_usd, platform_usd, sold_at (UTC), refunded.",
    )
    where = export.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir", type=Path, default=None,
        help=f"the server's data folder (default {default_data_dir()})",
    )  # fmt: skip
    where.add_argument("--database", metavar="URL", default=None, help="a database URL")
    export.add_argument(
        "--out", type=Path, required=True, help=f"file to write, ending in {' or '.join(FORMATS)}"
    )
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    if args.out.suffix.lower() not in FORMATS:
        raise CliError(f"--out {args.out}: the file name must end in {' or '.join(FORMATS)}")
    if args.database is not None:
        try:
            check_url(args.database)
        except ValueError as error:
            raise CliError(f"--database: {error}") from error
        url = args.database
    else:
        folder = args.data_dir if args.data_dir is not None else default_data_dir()
        if not (folder / DATABASE_FILE).is_file():
            raise CliError(f"--data-dir {folder}: no {DATABASE_FILE} in it")
        url = database_url(folder, None)
    try:
        rows = export_tickets(url, args.out)
    except (SQLAlchemyError, MigrationError) as error:
        raise CliError(f"cannot read the ledger: {first_line(error)}") from error
    print(f"{rows} tickets -> {args.out}")
    return 0

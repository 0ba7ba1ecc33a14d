"""The tickets ledger as a tidy table, one row per ticket sold, for the revenue notebook:
room, host, buyer, price_usd, store_usd, creator_usd, platform_usd, sold_at (UTC), refunded."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from media_bench.server.store.database import Database

COLUMNS = ["room", "host", "buyer", "price_usd", "store_usd", "creator_usd", "platform_usd",
           "sold_at", "refunded"]  # fmt: skip
FORMATS = (".csv", ".parquet")


def tickets_table(url: str) -> pd.DataFrame:
    """The ledger of the database at ``url`` (migrated first if it is an older version)."""
    database = Database(url)
    try:
        rows = database.ledger.ticket_rows()
    finally:
        database.close()
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["sold_at"] = pd.to_datetime(table["sold_at"], unit="s", utc=True)
    table["refunded"] = table["refunded"].astype(bool)
    return table


def export_tickets(url: str, out: Path) -> int:
    """Write the ledger to ``out`` (``.csv`` or ``.parquet``); returns the rows written."""
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"{out}: the file name must end in {' or '.join(FORMATS)}")
    table = tickets_table(url)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        table.to_csv(out, index=False)
    else:
        table.to_parquet(out, index=False)
    return len(table)

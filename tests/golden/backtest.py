"""The seeded back-test table: a small run summarised per quarter.

Regenerate (only when a model change is intended, and say why in the commit):
    .venv/bin/python -m tests.golden.backtest
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.model import run_replication
from tests.conftest import small_scenario

GOLDEN = Path(__file__).with_name("backtest_small_seed11.csv")
SEED = 11


def quarterly_summary() -> pd.DataFrame:
    rep = run_replication(small_scenario(), seed=SEED, rep=0)

    def by_quarter(frame: pd.DataFrame) -> pd.Series:
        return pd.to_datetime(frame["date"]).dt.to_period("Q").astype(str)

    users = rep.users[rep.users["segment"] == "total"]
    parts: list[pd.Series | pd.DataFrame] = [
        users.groupby(by_quarter(users))["mdau_m"].mean().rename("mdau_total_m"),
        rep.eligibility.groupby(by_quarter(rep.eligibility))[
            ["eligible_hosts", "active_hosts", "ticket_eligible_hosts"]].mean(),
        rep.rooms_daily.groupby(by_quarter(rep.rooms_daily))[
            ["rooms_started", "tickets_sold"]].sum(),
        rep.revenue.groupby(by_quarter(rep.revenue))[["gross_usd", "creator_usd"]].sum(),
    ]
    if len(rep.rooms):
        parts.append(rep.rooms.groupby(by_quarter(rep.rooms))[
            ["listeners_peak", "joins", "removals"]].agg({"listeners_peak": "max",
                                                          "joins": "sum", "removals": "sum"}))
    table = pd.concat(parts, axis=1).fillna(0.0)
    table.index.name = "quarter"
    return pd.DataFrame(table.reset_index())


if __name__ == "__main__":
    quarterly_summary().to_csv(GOLDEN, index=False, float_format="%.10g")
    print(f"wrote {GOLDEN}")

"""Summaries of a run's tidy tables: fan-chart quantiles, quarterly views, peak hours."""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from sim.actuals import quarterly_mdau

BANDS = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}


def quantiles(frame: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Median and 50%/90% bands of ``value`` across replications, per ``by`` group."""
    grouped = frame.groupby(by)[value]
    out = pd.DataFrame({name: grouped.quantile(q) for name, q in BANDS.items()})
    return out.reset_index()


def mdau_quarterly(users: pd.DataFrame) -> pd.DataFrame:
    """Quarterly mean mDAU per replication and segment: rep, quarter, segment, mdau_m."""
    frame = users.assign(quarter=pd.to_datetime(users["date"]).dt.to_period("Q").astype(str))
    means = frame.groupby(["rep", "quarter", "segment"], as_index=False)["mdau_m"].mean()
    return cast(pd.DataFrame, means)


def mdau_fan(users: pd.DataFrame, segment: str = "total") -> pd.DataFrame:
    """Daily fan of one segment: date, p05..p95."""
    return quantiles(users[users["segment"] == segment], ["date"], "mdau_m")


def mdau_vs_actuals(users: pd.DataFrame) -> pd.DataFrame:
    """Quarterly median and bands of total mDAU beside the published actuals."""
    quarterly = mdau_quarterly(users)
    fan = quantiles(quarterly[quarterly["segment"] == "total"], ["quarter"], "mdau_m")
    actual = quarterly_mdau()[["quarter", "total"]].rename(columns={"total": "actual_m"})
    return fan.merge(actual, on="quarter", how="left")


def peak_hours(rooms: pd.DataFrame, freq: str = "M") -> pd.DataFrame:
    """Per period and replication, the busiest sampled hour: live rooms, speakers, listeners."""
    frame = rooms.assign(period=pd.to_datetime(rooms["date"]).dt.to_period(freq).astype(str))
    columns = ["live_rooms_peak", "speakers_peak", "listeners_peak", "live_rooms_mean",
               "speakers_mean", "listeners_mean"]
    return frame.groupby(["rep", "period"], as_index=False)[columns].max()


def reach_by(reach: pd.DataFrame, freq: str = "W") -> pd.DataFrame:
    """Per period and replication, the mean day's reach: rep, period, the reach columns."""
    frame = reach.assign(period=pd.to_datetime(reach["date"]).dt.to_period(freq).astype(str))
    columns = ["listener_sessions", "unique_listeners", "unique_hosts", "listeners_share_of_mdau"]
    return frame.groupby(["rep", "period"], as_index=False)[columns].mean()


def revenue_by(revenue: pd.DataFrame, freq: str = "Q") -> pd.DataFrame:
    """Revenue by party per period and replication (USD): tidy, one row per party."""
    frame = revenue.assign(period=pd.to_datetime(revenue["date"]).dt.to_period(freq).astype(str))
    parties = {"gross_usd": "gross", "store_usd": "app store", "creator_usd": "creators",
               "twitter_usd": "twitter"}
    summed = frame.groupby(["rep", "period"], as_index=False)[list(parties)].sum()
    long = summed.melt(id_vars=["rep", "period"], var_name="party", value_name="usd")
    long["party"] = long["party"].map(parties)
    return long


LEDGER_PARTIES = {"store_usd": "app store", "creator_usd": "creators", "platform_usd": "twitter"}


def shares_beside_ledger(revenue: pd.DataFrame, ledger: pd.DataFrame) -> pd.DataFrame:
    """Each party's share of ticket gross (%): the simulation's, all replications and days,
    beside a server's ledger (``spaces-lab ledger export``; refunded tickets left out), with
    the ledger's dollars and ticket count."""
    sim_totals = revenue[["store_usd", "creator_usd", "twitter_usd"]].sum()
    sim_share = 100 * sim_totals / revenue["gross_usd"].sum()
    kept = ledger[~ledger["refunded"].astype(bool)]
    ledger_totals = kept[list(LEDGER_PARTIES)].astype(float).sum()
    ledger_gross = float(kept["price_usd"].astype(float).sum())
    ledger_share = 100 * ledger_totals / ledger_gross if ledger_gross else ledger_totals * np.nan
    table = pd.DataFrame({
        "simulation (% of gross)": sim_share.to_numpy(),
        "server ledger (% of gross)": ledger_share.to_numpy(),
        "server ledger (USD)": ledger_totals.to_numpy(),
    }, index=pd.Index(list(LEDGER_PARTIES.values()), name="party"))
    table.attrs["tickets"] = len(kept)
    return table


def headline(users: pd.DataFrame, eligibility: pd.DataFrame, rooms: pd.DataFrame,
             revenue: pd.DataFrame) -> pd.DataFrame:
    """A one-screen table of the figures people ask for first."""
    q = mdau_vs_actuals(users).set_index("quarter")
    last = q.index.max()
    eligible_end = eligibility[eligibility["date"] == eligibility["date"].max()]
    peaks = rooms.groupby("rep")[["live_rooms_peak", "listeners_peak"]].max()
    rev = revenue_by(revenue, "Y")
    rev_last = rev[(rev["period"] == rev["period"].max()) & (rev["party"] == "gross")]
    rows = [
        (f"mDAU {last} (M)", q.loc[last, "p50"], q.loc[last, "p05"], q.loc[last, "p95"]),
        ("active hosts at end", *_band(eligible_end["active_hosts"])),
        ("ticket-eligible hosts at end", *_band(eligible_end["ticket_eligible_hosts"])),
        ("peak live rooms (sampled hours)", *_band(peaks["live_rooms_peak"])),
        ("peak concurrent listeners", *_band(peaks["listeners_peak"])),
        (f"ticket gross {rev_last['period'].max()} (USD)", *_band(rev_last["usd"])),
    ]
    return pd.DataFrame(rows, columns=["figure", "median", "p05", "p95"])


def _band(values: pd.Series) -> tuple[float, float, float]:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return (np.nan, np.nan, np.nan)
    return (float(np.median(arr)), float(np.quantile(arr, 0.05)), float(np.quantile(arr, 0.95)))

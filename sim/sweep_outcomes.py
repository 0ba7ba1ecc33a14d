"""The headline outputs of a sweep: one row per grid point and replication, then bands."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

#: column -> label for charts and tables
OUTCOMES: dict[str, str] = {
    "mdau_last_quarter_m": "mDAU, last simulated quarter (M)",
    "eligible_hosts_end": "accounts that may host, last day",
    "peak_listeners": "peak concurrent listeners (sampled hours)",
    "creator_revenue_usd": "creator ticket revenue, whole run (USD)",
    "platform_revenue_usd": "platform (Twitter) ticket revenue, whole run (USD)",
    "listeners_share_last_quarter": "Spaces' reach: daily unique listeners / mDAU, last quarter",
}
BANDS = {"p10": 0.10, "p50": 0.50, "p90": 0.90}


def per_replication(users: pd.DataFrame, eligibility: pd.DataFrame, rooms: pd.DataFrame,
                    revenue: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """The headline outputs of each replication in these tables: rep, mdau_quarter, outcomes.

    Reach (``sim.reach``) is the mean over the last simulated quarter's days of the day's
    unique Spaces listeners as a share of its mDAU, the quarter mDAU is averaged over.
    """
    total = users[users["segment"] == "total"]
    quarter = pd.to_datetime(total["date"]).dt.to_period("Q")
    last_quarter = total[quarter == quarter.max()]
    mdau = last_quarter.groupby("rep")["mdau_m"].mean()
    end = eligibility[eligibility["date"] == eligibility["date"].max()]
    frame = pd.DataFrame({
        "mdau_quarter": str(quarter.max()),
        "mdau_last_quarter_m": mdau,
        "eligible_hosts_end": end.groupby("rep")["eligible_hosts"].sum(),
        "peak_listeners": (rooms.groupby("rep")["listeners_peak"].max()
                           if "listeners_peak" in rooms else 0.0),
        "creator_revenue_usd": revenue.groupby("rep")["creator_usd"].sum(),
        "platform_revenue_usd": revenue.groupby("rep")["twitter_usd"].sum(),
        "listeners_share_last_quarter": _last_quarter_mean(reach, "listeners_share_of_mdau"),
    }, index=mdau.index)
    frame[list(OUTCOMES)] = frame[list(OUTCOMES)].fillna(0.0).astype(float)
    return frame.rename_axis("rep").reset_index()


def _last_quarter_mean(frame: pd.DataFrame, column: str) -> pd.Series:
    quarter = pd.to_datetime(frame["date"]).dt.to_period("Q")
    return frame[quarter == quarter.max()].groupby("rep")[column].mean()


def bands(outcomes: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Tidy summary per grid point and outcome: keys..., outcome, reps, mean, p10, p50, p90."""
    long = outcomes.melt(id_vars=[*keys, "rep"], value_vars=list(OUTCOMES),
                         var_name="outcome", value_name="value")
    grouped = long.groupby([*keys, "outcome"], sort=False)["value"]
    summary = pd.DataFrame({"reps": grouped.size(), "mean": grouped.mean()})
    for name, q in BANDS.items():
        summary[name] = grouped.quantile(q)
    return summary.reset_index().sort_values(list(keys), kind="stable", ignore_index=True)

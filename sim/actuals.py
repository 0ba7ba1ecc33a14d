"""The published quarterly mDAU figures shipped with the package (see ``sim/data/SOURCES.md``)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd

SEGMENTS = ("us", "intl")
ANALYST_DAY_GOAL_M = 315.0
ANALYST_DAY_GOAL_QUARTER = "2023Q4"


@cache
def _quarterly() -> pd.DataFrame:
    with resources.files("sim").joinpath("data/mdau_2019q1_2021q1.csv").open() as handle:
        raw = pd.read_csv(handle)
    periods = pd.PeriodIndex(raw["quarter"], freq="Q")
    return pd.DataFrame(
        {
            "quarter": raw["quarter"],
            "start": periods.start_time,
            "end": periods.end_time.normalize(),
            "mid": periods.start_time + (periods.end_time - periods.start_time) / 2,
            "total": raw["mdau_total_m"].astype(float),
            "us": raw["mdau_us_m"].astype(float),
            "intl": raw["mdau_intl_m"].astype(float),
            "source": raw["source"],
        }
    )


def quarterly_mdau() -> pd.DataFrame:
    """Quarterly mDAU in millions: quarter, start, end, mid, total, us, intl, source."""
    return _quarterly().copy()


def quarterly_long() -> pd.DataFrame:
    """Tidy actuals: quarter, mid (timestamp), segment (us/intl/total), mdau_m."""
    wide = _quarterly()
    return wide.melt(
        id_vars=["quarter", "mid"], value_vars=["us", "intl", "total"],
        var_name="segment", value_name="mdau_m",
    )

"""A seeded small run must reproduce the committed quarterly table exactly (to rounding)."""

import pandas as pd

from tests.golden.backtest import GOLDEN, quarterly_summary


def test_seeded_run_matches_the_committed_table():
    expected = pd.read_csv(GOLDEN)
    actual = quarterly_summary()
    assert list(actual.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-6, atol=1e-6,
                                  check_dtype=False)


def test_the_pinned_run_is_not_trivial():
    expected = pd.read_csv(GOLDEN).set_index("quarter")
    assert expected.loc["2021Q1", "mdau_total_m"] > 190
    assert expected.loc["2022Q1", "rooms_started"] > 0
    assert expected.loc["2022Q1", "gross_usd"] > 0

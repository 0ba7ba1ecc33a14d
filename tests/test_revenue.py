import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import revenue
from sim.revenue import TicketParams
from sim.rules.tickets import split_sale
from sim.summary import shares_beside_ledger

PARAMS = TicketParams()
money = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(gross=money, earned=money, fee=st.sampled_from([0.0, 0.15, 0.30]))
def test_shares_sum_to_the_price(gross, earned, fee):
    params = TicketParams(store_fee=fee)
    split = revenue.split(np.array([gross]), np.array([earned]), params)
    total = split.store + split.creator + split.twitter
    assert total[0] == pytest.approx(gross, rel=1e-9, abs=1e-9)
    assert split.creator[0] >= 0 and split.twitter[0] >= -1e-9 and split.store[0] >= 0


def test_creator_keeps_97_then_80_percent_of_net():
    below = revenue.split(np.array([100.0]), np.array([0.0]), PARAMS)
    assert below.creator[0] == pytest.approx(100 * 0.7 * 0.97)  # 67.9% of the price
    above = revenue.split(np.array([100.0]), np.array([60_000.0]), PARAMS)
    assert above.creator[0] == pytest.approx(100 * 0.7 * 0.80)  # 56.0% of the price


def test_a_sale_crossing_50000_is_split_exactly_at_the_line():
    earned_before = 49_990.0
    gross = 1_000.0
    split = revenue.split(np.array([gross]), np.array([earned_before]), PARAMS)
    net = gross * 0.7
    first = 10.0 / 0.97  # net that brings the creator to exactly $50,000
    assert split.creator[0] == pytest.approx(10.0 + (net - first) * 0.80)


@given(st.integers(min_value=1, max_value=500), st.integers(min_value=0, max_value=2**32 - 1))
def test_sales_never_exceed_the_cap_and_prices_stay_in_range(n, seed):
    rng = np.random.default_rng(seed)
    audience = rng.pareto(1.2, size=n) * 50
    sales = revenue.sell(audience, PARAMS, rng)
    assert (sales.sold <= sales.cap).all()
    assert (sales.price >= 1).all() and (sales.price <= 999).all()
    assert (sales.sold >= 0).all()


def test_demand_falls_with_price_as_the_elasticity_says():
    rng = np.random.default_rng(1)
    audience = np.full(20_000, 40.0)

    def mean_sold(price: float) -> float:
        params = TicketParams(price_min=price, price_max=price, cap_multiple=10)
        return float(revenue.sell(audience, params, rng).sold.mean())

    ratio = mean_sold(20) / mean_sold(2)
    assert ratio == pytest.approx(10 ** -PARAMS.price_elasticity, rel=0.05)


@pytest.mark.parametrize(
    ("field", "value"),
    [("store_fee", 1.5), ("price_min", 0.5), ("creator_share", -0.1), ("cap_multiple", 0)],
)
def test_bad_values_are_named(field, value):
    with pytest.raises(ValueError, match=f"tickets.{field}"):
        TicketParams(**{field: value}).validate()


def test_a_servers_ledger_stands_beside_the_simulated_split() -> None:
    sales = [split_sale(price, 0.0) for price in (5.0, 10.0, 20.0)]
    ledger = pd.DataFrame(
        [(p, *parts, False) for p, parts in zip((5.0, 10.0, 20.0), sales, strict=True)]
        + [(999.0, 299.7, 678.3, 21.0, True)],  # refunded: not revenue
        columns=["price_usd", "store_usd", "creator_usd", "platform_usd", "refunded"],
    )
    simulated = pd.DataFrame({"gross_usd": [100.0, 0.0], "store_usd": [15.0, 0.0],
                              "creator_usd": [80.0, 0.0], "twitter_usd": [5.0, 0.0]})
    table = shares_beside_ledger(simulated, ledger)
    assert table.attrs["tickets"] == 3
    assert table["simulation (% of gross)"].tolist() == pytest.approx([15.0, 80.0, 5.0])
    assert table["server ledger (% of gross)"].tolist() == pytest.approx([30.0, 67.9, 2.1])
    assert table["server ledger (USD)"].sum() == pytest.approx(35.0)


def test_a_ledger_with_no_tickets_has_no_shares() -> None:
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in (
        "price_usd", "store_usd", "creator_usd", "platform_usd", "refunded")})
    simulated = pd.DataFrame({"gross_usd": [100.0], "store_usd": [30.0], "creator_usd": [67.9],
                              "twitter_usd": [2.1]})
    table = shares_beside_ledger(simulated, empty)
    assert table.attrs["tickets"] == 0
    assert table["server ledger (% of gross)"].isna().all()
    assert table["server ledger (USD)"].tolist() == [0.0, 0.0, 0.0]

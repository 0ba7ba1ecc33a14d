"""The product's rules (``sim.rules``): one implementation for scalars and arrays."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import revenue
from sim.rules import rooms, tickets
from sim.rules.tickets import PUBLISHED, TicketParams, can_host_ticketed, split_amounts, split_sale

money = st.floats(min_value=0, max_value=1e6, allow_nan=False)


def test_the_published_numbers() -> None:
    assert (tickets.PRICE_MIN_USD, tickets.PRICE_MAX_USD) == (1.0, 999.0)
    assert tickets.MIN_HOST_AGE == 18
    assert (PUBLISHED.min_followers, PUBLISHED.min_hosted_30d) == (1000, 3)
    assert (PUBLISHED.creator_share, PUBLISHED.creator_share_after) == (0.97, 0.80)
    assert PUBLISHED.lifetime_threshold_usd == 50_000
    assert (rooms.MAX_COHOSTS, rooms.MAX_SPEAKERS, rooms.STAGE_CAPACITY) == (2, 10, 13)


@pytest.mark.parametrize(("price", "ok"), [(0.99, False), (1, True), (999, True), (999.01, False)])
def test_price_range(price: float, ok: bool) -> None:
    assert tickets.price_in_range(price) is ok


def test_scenario_prices_outside_the_published_range_are_refused() -> None:
    with pytest.raises(ValueError, match="tickets.price_min/price_max"):
        TicketParams(price_max=1000).validate()


def test_a_sale_crossing_50000_is_split_exactly_at_the_line() -> None:
    # net 700: 10 of creator earnings at 97% (10/0.97 of net) reach $50,000, the rest at 80%
    store, creator, platform = split_sale(1_000.0, 49_990.0, PUBLISHED)
    assert store == pytest.approx(300.0)
    assert creator == pytest.approx(10.0 + (700.0 - 10.0 / 0.97) * 0.80)
    assert store + creator + platform == pytest.approx(1_000.0)
    assert split_sale(100.0, 0.0) == pytest.approx((30.0, 67.9, 2.1))
    assert split_sale(100.0, 50_000.0) == pytest.approx((30.0, 56.0, 14.0))
    assert all(isinstance(part, float) for part in split_sale(5.0, 0.0))


@given(st.lists(st.tuples(money, money), min_size=1, max_size=20),
       st.sampled_from([0.0, 0.15, 0.30]))
def test_the_split_of_arrays_is_the_split_of_each_sale(sales: list[tuple[float, float]],
                                                         fee: float) -> None:
    params = TicketParams(store_fee=fee)
    gross, earned = (np.array(column) for column in zip(*sales, strict=True))
    arrays = split_amounts(gross, earned, params)
    one_by_one = np.array([split_sale(g, e, params) for g, e in sales]).T
    np.testing.assert_array_equal(np.stack(arrays), one_by_one)
    sim = revenue.split(gross, earned, params)  # the simulation's split is this rule
    np.testing.assert_array_equal(np.stack([sim.store, sim.creator, sim.twitter]), one_by_one)


@pytest.mark.parametrize(
    ("followers", "age", "hosted", "unmet"),
    [
        (1_000, 18, 3, []),
        (1_000, 17, 3, ["18 years old (is 17)"]),
        (999, 18, 3, ["1,000 followers (has 999)"]),
        (1_000, 18, 2, ["3 Spaces in the last 30 days (hosted 2)"]),
        (1_000, None, 3, ["18 years old (age unknown)"]),
        (10, 13, 0, ["years old", "followers", "Spaces"]),
    ],
)
def test_ticketed_hosts_need_age_followers_and_recent_hosting(
    followers: int, age: int | None, hosted: int, unmet: list[str]
) -> None:
    reasons = tickets.unmet_ticketed_rules(followers, age, hosted)
    assert len(reasons) == len(unmet)
    for reason, words in zip(reasons, unmet, strict=True):
        assert words in reason
    adult = age is not None and bool(tickets.is_adult(age))
    assert bool(can_host_ticketed(followers, adult, hosted)) == (not reasons)


@given(st.lists(st.tuples(st.integers(0, 5_000), st.integers(10, 80), st.integers(0, 10)),
                min_size=1, max_size=50))
def test_eligibility_of_arrays_is_the_eligibility_of_each_account(
    accounts: list[tuple[int, int, int]]
) -> None:
    followers, ages, hosted = (np.array(column) for column in zip(*accounts, strict=True))
    panel = can_host_ticketed(followers, tickets.is_adult(ages), hosted)
    assert panel.shape == followers.shape
    one_by_one = [not tickets.unmet_ticketed_rules(f, a, h) for f, a, h in accounts]
    assert panel.tolist() == one_by_one

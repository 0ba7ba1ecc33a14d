from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import followers, hosts
from sim.hosts import HISTORY_DAYS, HostingParams
from sim.policy import PolicyParams

POLICY = PolicyParams()


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2020, 12, 16), None),
        (date(2020, 12, 17), float("inf")),
        (date(2021, 5, 2), float("inf")),
        (date(2021, 5, 3), 600.0),
        (date(2021, 10, 20), 600.0),
        (date(2021, 10, 21), 0.0),
    ],
)
def test_policy_timeline(day, expected):
    assert POLICY.threshold_on(day) == expected


@given(users=st.floats(min_value=0, max_value=1e9),
       threshold=st.one_of(st.none(), st.just(float("inf")), st.floats(min_value=0, max_value=1e8)),
       testers=st.integers(min_value=0, max_value=10**10))
def test_eligible_hosts_never_exceed_users(users, threshold, testers):
    eligible = hosts.eligible_hosts(users, threshold, followers.fitted(), testers)
    assert 0 <= eligible <= users


def _panel(seed=1, size=4000):
    params = HostingParams(panel_size=size, beta_panel=50)
    return hosts.build_panel(followers.fitted(), params, POLICY, adult_share=0.9, cap=0.2,
                             rng=np.random.default_rng(seed))


def test_panel_weights_stand_for_the_adopting_population():
    panel = _panel()
    users = 200e6
    weights = panel.weights(users)
    general = ~panel.tester
    assert weights[general].sum() == pytest.approx(0.2 * users, rel=1e-9)
    assert weights[panel.tester].sum() == pytest.approx(POLICY.beta_testers)
    # the panel estimate of accounts >= 1,000 followers matches the follower model
    above = weights[general & (panel.followers >= 1_000)].sum() / 0.2
    assert above / users == pytest.approx(float(followers.fitted().survival(1_000)), rel=0.1)


def test_panel_oversamples_the_heavy_tail():
    panel = _panel()
    top = panel.followers[~panel.tester] >= followers.fitted().quantile_sf(np.array([0.001]))[0]
    assert top.mean() > 0.1  # 0.1% of accounts, >10% of the panel


def test_thirty_day_history_counts_only_the_last_thirty_days():
    panel = _panel(size=200)
    n = panel.size
    hosted = np.zeros(n, dtype=bool)
    hosted[0] = True
    for day in range(3):
        panel.record_day(day, hosted)
    assert panel.hosted_30d[0] == 3
    quiet = np.zeros(n, dtype=bool)
    for day in range(3, HISTORY_DAYS + 3):
        panel.record_day(day, quiet)
        if day < HISTORY_DAYS - 1:
            assert panel.hosted_30d[0] == 3
    assert panel.hosted_30d[0] == 0
    assert panel.hosted_30d[1:].sum() == 0


def test_eligible_mask_follows_the_threshold():
    panel = _panel()
    assert not hosts.eligible_mask(panel, None).any()
    assert (hosts.eligible_mask(panel, float("inf")) == panel.tester).all()
    mask = hosts.eligible_mask(panel, 600)
    assert (mask == (panel.tester | (panel.followers >= 600))).all()
    assert hosts.eligible_mask(panel, 0).all()


def test_bad_values_are_named():
    with pytest.raises(ValueError, match="hosting.panel_size"):
        HostingParams(panel_size=5).validate()
    with pytest.raises(ValueError, match="policy: dates"):
        PolicyParams(threshold_date=date(2020, 1, 1)).validate()

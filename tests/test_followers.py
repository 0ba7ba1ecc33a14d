import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import followers
from sim.followers import SURVIVAL_ANCHORS, FollowerModel


def test_fit_reproduces_published_anchors():
    model = followers.fitted()
    for x, published, modelled in model.anchor_table():
        assert modelled == pytest.approx(published, rel=0.05), x
    assert 1.4 < model.sigma < 1.8  # the derived note: lognormal body sigma ~1.6


def test_share_able_to_host_at_600_is_in_the_derived_range():
    share = float(followers.fitted().survival(600))
    assert 0.03 <= share <= 0.08


def test_samples_follow_the_survival_function():
    counts = followers.sample_followers(400_000, seed=3)
    assert np.median(counts) == pytest.approx(61, rel=0.05)
    for x, share in SURVIVAL_ANCHORS[1:]:
        assert (counts >= x).mean() == pytest.approx(share, rel=0.1)


def test_tail_is_heavier_than_the_lognormal_body():
    model = followers.fitted()
    body_only = FollowerModel(median=model.median, sigma=model.sigma, tail_start=1e12)
    assert model.survival(1e5) > 5 * body_only.survival(1e5)


def test_same_seed_same_followers():
    assert np.array_equal(followers.sample_followers(100, 9), followers.sample_followers(100, 9))
    assert not np.array_equal(followers.sample_followers(100, 9),
                              followers.sample_followers(100, 10))


@given(st.floats(min_value=1e-9, max_value=1.0))
def test_quantile_inverts_survival(q):
    model = followers.fitted()
    x = float(model.quantile_sf(np.array([q]))[0])
    if x < model.max_followers:
        assert float(model.survival(x)) == pytest.approx(q, rel=1e-6, abs=1e-12)


@given(st.floats(min_value=0, max_value=1e9), st.floats(min_value=0, max_value=1e9))
def test_survival_is_monotone(a, b):
    model = followers.fitted()
    lo, hi = sorted((a, b))
    assert model.survival(lo) >= model.survival(hi)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="followers.sigma"):
        FollowerModel(sigma=0)

import dataclasses

import numpy as np
import pandas as pd
import pytest

from sim import users
from sim.actuals import quarterly_mdau
from sim.summary import mdau_quarterly
from sim.users import SpacesParams, UserParams

PARAMS = UserParams()
SPACES = SpacesParams()


def _quarterly_central(params=PARAMS, spaces=SPACES):
    paths = users._central_paths(params, spaces)
    days = users.horizon(params)
    return {
        q: users.quarter_mean(days, paths["us"] + paths["intl"], q)
        for q in quarterly_mdau()["quarter"]
    } | {"2023Q4": users.quarter_mean(days, paths["us"] + paths["intl"], "2023Q4")}


def test_fit_tracks_every_published_quarter():
    central = _quarterly_central()
    for _, row in quarterly_mdau().iterrows():
        assert central[row["quarter"]] == pytest.approx(row["total"], rel=0.03), row["quarter"]


def test_covid_is_a_shock_and_growth_slowed_after_it():
    for fit in users.fits(PARAMS).values():
        assert fit.shock_pct > 3
        assert fit.growth_after_pct < fit.growth_before_pct


def test_without_the_shock_term_the_fit_is_worse():
    with_shock = users.fits(PARAMS)
    without = users.fits(dataclasses.replace(PARAMS, covid_shock=False))
    for segment in ("us", "intl"):
        assert with_shock[segment].rmse_log < without[segment].rmse_log


def test_baseline_falls_short_of_the_analyst_day_goal():
    assert _quarterly_central()["2023Q4"] < 300


def test_analyst_day_target_is_solved():
    params, spaces = users.resolve_targets(dataclasses.replace(PARAMS, target_mdau_m=315.0), SPACES)
    assert params.extra_growth > 0
    assert _quarterly_central(params, spaces)["2023Q4"] == pytest.approx(315.0, abs=0.05)


def test_spaces_lift_target_is_solved_and_only_acts_after_launch():
    params, spaces = users.resolve_targets(PARAMS, dataclasses.replace(SPACES, target_mdau_m=315))
    assert spaces.mdau_lift > 0
    boosted = _quarterly_central(params, spaces)
    plain = _quarterly_central()
    assert boosted["2023Q4"] == pytest.approx(315.0, abs=0.05)
    assert boosted["2020Q3"] == pytest.approx(plain["2020Q3"])


def test_unreachable_target_is_a_clear_error():
    with pytest.raises(ValueError, match="out of reach"):
        users.required_extra_growth(PARAMS, SPACES, 5_000.0)


def test_replications_are_seeded_and_bands_widen_after_the_actuals():
    a = users.simulate_users(PARAMS, SPACES, np.random.default_rng(4))
    b = users.simulate_users(PARAMS, SPACES, np.random.default_rng(4))
    pd.testing.assert_frame_equal(a, b)
    reps = pd.concat(
        users.simulate_users(PARAMS, SPACES, np.random.default_rng(i))
        .melt(id_vars="date", var_name="segment", value_name="mdau_m")
        .assign(rep=i)
        for i in range(40)
    )
    quarterly = mdau_quarterly(reps)
    total = quarterly[quarterly["segment"] == "total"].groupby("quarter")["mdau_m"]
    spread = (total.quantile(0.95) - total.quantile(0.05)) / total.median()
    assert spread["2023Q4"] > 4 * spread["2020Q3"]
    assert (reps["mdau_m"] > 0).all()


def test_segments_add_up():
    frame = users.simulate_users(PARAMS, SPACES, np.random.default_rng(1))
    np.testing.assert_allclose(frame["total"], frame["us"] + frame["intl"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("daily_noise_ar", 1.0, "users.daily_noise_ar"),
        ("growth_sd", -1.0, "users.growth_sd"),
        ("target_quarter", "Q5", "users.target_quarter"),
    ],
)
def test_bad_values_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(PARAMS, **{field: value}).validate()

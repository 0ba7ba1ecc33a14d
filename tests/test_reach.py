"""Spaces' reach (sim.reach), the listening novelty (sim.novelty) and their parameters."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from sim import scenario
from sim.model import Replication, run_replication
from sim.novelty import listening_level
from sim.reach import REACH_COLUMNS, mean_room_duration_min, room_listeners
from sim.rooms import RoomParams, draw_schedule, simulate_day
from sim.scenario import ScenarioError
from sim.users import SpacesParams
from tests.conftest import small_scenario
from tests.test_rooms import make_rooms


@pytest.fixture(scope="module")
def replication() -> Replication:
    return run_replication(small_scenario(), seed=5, rep=0)


def test_reach_columns_are_consistent(replication: Replication) -> None:
    reach = replication.reach
    assert list(reach.columns) == ["rep", "date", *REACH_COLUMNS]
    assert len(reach) == len(replication.eligibility)
    assert (reach["unique_listeners"] <= reach["listener_sessions"]).all()
    assert reach["listeners_share_of_mdau"].between(0.0, 1.0).all()
    users = replication.eligibility.set_index("date")["users"]
    share = reach.set_index("date")["unique_listeners"] / users
    np.testing.assert_allclose(reach["listeners_share_of_mdau"], share.to_numpy())
    # Unique hosts are the rooms started (one room per host and day).
    np.testing.assert_allclose(reach["unique_hosts"], replication.rooms_daily["rooms_started"])


def test_no_reach_before_spaces_launch_and_some_after(replication: Replication) -> None:
    reach = replication.reach
    launch = pd.Timestamp(small_scenario().policy.beta_start)
    before = reach[reach["date"] < launch]
    assert len(before) > 300
    assert (before[list(REACH_COLUMNS)] == 0.0).all().all()
    after = reach[reach["date"] >= launch + pd.Timedelta(days=200)]
    assert (after["unique_listeners"] > 0).mean() > 0.9
    assert (after["unique_hosts"] > 0).all()


def test_the_expected_listeners_agree_with_the_simulated_sessions() -> None:
    params = RoomParams(removals_per_listener_hour=0.0)
    n = 300
    rng = np.random.default_rng(4)
    start, duration = draw_schedule(n, params, rng)
    audience = rng.uniform(5.0, 80.0, n)
    rooms = make_rooms(list(start), list(duration), list(audience))
    result = simulate_day(rooms, params, rng, record_sessions=True)
    log = result.session_log
    assert log is not None
    expected = room_listeners(audience, duration, np.zeros(n, dtype=np.bool_), params)
    assert len(log) == pytest.approx(expected.sessions.sum(), rel=0.03)
    distinct = log.drop_duplicates(["room", "listener_id"]).shape[0]
    # ceil(sessions / visits per listener) per room: at most one more listener a room
    assert expected.distinct.sum() * 0.97 <= distinct <= expected.distinct.sum() + n


def test_the_mean_duration_is_that_of_the_drawn_schedule() -> None:
    params = RoomParams()
    _, duration = draw_schedule(400_000, params, np.random.default_rng(1))
    assert mean_room_duration_min(params) == pytest.approx(duration.mean(), rel=0.01)
    capped = dataclasses.replace(params, duration_max_min=30.0)
    _, duration = draw_schedule(200_000, capped, np.random.default_rng(1))
    assert mean_room_duration_min(capped) == pytest.approx(duration.mean(), rel=0.01)


def test_listening_decays_from_the_novelty_level_with_the_half_life() -> None:
    spaces = SpacesParams(listening_novelty=3.0, listening_half_life_days=30.0)
    assert listening_level(spaces.launch, spaces) == pytest.approx(3.0)
    assert listening_level(spaces.launch + timedelta(days=30), spaces) == pytest.approx(2.0)
    assert listening_level(spaces.launch + timedelta(days=60), spaces) == pytest.approx(1.5)
    assert listening_level(date(2030, 1, 1), spaces) == pytest.approx(1.0)
    assert listening_level(spaces.launch, SpacesParams()) == 1.0  # default: no novelty


def test_a_longer_half_life_keeps_more_listening_later() -> None:
    def sessions(half_life: float) -> pd.Series:
        novelty: dict[str, object] = {
            "listening_novelty": 3.0,
            "listening_half_life_days": half_life,
        }
        rep = run_replication(small_scenario(spaces=novelty), seed=5, rep=0)
        later = rep.reach[rep.reach["date"] >= "2021-06-01"]
        return later.set_index("date")["listener_sessions"]

    short, long = sessions(20.0), sessions(200.0)
    assert long.sum() > 1.2 * short.sum()
    # Half-lives of 20 and 200 days from 2020-12-17 leave levels of ~1.0 and ~1.8 a year on;
    # (the rooms stream is shared, so later days' draws differ: compare months, not days)
    monthly = pd.DataFrame({"short": short, "long": long}).resample("MS").sum()
    assert (monthly["long"] > monthly["short"]).mean() >= 0.8


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("rooms", {"host_invites_per_room_hour": "-1"}, "rooms.host_invites_per_room_hour"),
        ("rooms", {"rooms_per_listener_day": "0.5"}, "rooms.rooms_per_listener_day"),
        ("spaces", {"listening_novelty": "0"}, "spaces.listening_novelty"),
        ("spaces", {"listening_half_life_days": "0"}, "spaces.listening_half_life_days"),
        ("spaces", {"listening_half_life_days": "soon"}, "spaces.listening_half_life_days"),
    ],
)
def test_bad_reach_and_novelty_parameters_are_one_line_errors(
    key: str, value: dict[str, str], field: str
) -> None:
    with pytest.raises(ScenarioError) as error:
        scenario.load("baseline", {key: value})
    message = str(error.value)
    assert message.startswith(field) and "\n" not in message

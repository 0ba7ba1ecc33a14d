"""The replay plan of a sim peak hour, checked without Locust: heavy-tailed rooms that add up
to the swarm at the peak, the sim's churn, its event rates, deterministic from a seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loadtests.replay_plan import (
    EVENT_RATES,
    WINDOW_MIN,
    ReplaySpec,
    over_time,
    plan_replay,
)
from sim.rooms import RoomParams, simulate_day
from tests.test_rooms import max_overlap, mix_day

PARAMS = RoomParams()


@pytest.fixture(scope="module")
def sim_peak() -> pd.DataFrame:
    """A simulated day's rooms at its busiest minute (as the sim writes them)."""
    peak = simulate_day(mix_day(n=600), PARAMS, np.random.default_rng(3)).peak_rooms
    return peak.assign(rep=0, date=pd.Timestamp("2024-01-01"))


def steady_rooms(audience: list[float], speakers: list[int]) -> pd.DataFrame:
    """Rooms live long before and long after the peak minute (steady audiences)."""
    n = len(audience)
    return pd.DataFrame({"rep": 0, "date": pd.Timestamp("2024-01-01"), "minute": 1200,
                         "room": np.arange(n), "start_min": 900.0, "end_min": 1500.0,
                         "listeners": audience, "speakers": speakers, "weight": 1.0})


def test_the_biggest_room_stays_much_bigger_and_the_peak_adds_up_to_the_swarm(sim_peak):
    plan = plan_replay(sim_peak, PARAMS, ReplaySpec(users=120, rooms=8, seed=4))
    rooms = plan.rooms
    sizes = rooms["listeners_at_peak"]
    assert sizes.max() >= 5 * max(sizes.median(), 1), sizes.tolist()
    assert sizes.sum() + rooms["speakers"].sum() == 120
    at_peak = over_time(plan, np.array([plan.peak_s]))
    assert at_peak["listeners"].tolist() == sizes.tolist()
    assert at_peak["speakers"].tolist() == rooms["speakers"].tolist()
    # rooms open and close through the hour, all of them live at the peak
    assert (rooms["start_s"] <= plan.peak_s).all() and (rooms["end_s"] > plan.peak_s).all()
    assert (rooms["start_s"] > 0).any() and (rooms["end_s"] < plan.duration_s).any()
    # a uniform split (the shape this replaces) would not pass
    assert sizes.max() > 2 * sizes.sum() / len(sizes)


def test_the_plan_is_the_same_for_a_seed_and_another_for_another(sim_peak):
    spec = ReplaySpec(users=60, rooms=5, seed=7)
    a, b = plan_replay(sim_peak, PARAMS, spec), plan_replay(sim_peak, PARAMS, spec)
    pd.testing.assert_frame_equal(a.sessions, b.sessions)
    pd.testing.assert_frame_equal(a.events, b.events)
    c = plan_replay(sim_peak, PARAMS, ReplaySpec(users=60, rooms=5, seed=8))
    assert not a.sessions[["arrive_s", "leave_s"]].equals(c.sessions[["arrive_s", "leave_s"]])


def test_listeners_churn_with_the_sims_session_lengths():
    spec = ReplaySpec(users=2_000, rooms=2, speedup=60.0, seed=2)
    plan = plan_replay(steady_rooms([900.0, 1100.0], [1, 1]), PARAMS, spec)
    listeners = plan.sessions[plan.sessions["role"] == "listener"]
    minute = 60.0 / spec.speedup  # replay seconds per sim minute
    # arrivals in the first half hour, stays read up to its end: E[min(stay, 30 min)]
    early = listeners[(listeners["arrive_s"] > 0) & (listeners["arrive_s"] < 15 * minute)]
    seen = np.minimum(early["leave_s"] - early["arrive_s"], 30 * minute) / minute
    law = stats.lognorm(s=PARAMS.listen_sigma,
                        scale=np.exp(np.log(PARAMS.listen_mean_min) - PARAMS.listen_sigma**2 / 2))
    expected = law.expect(lambda x: np.minimum(x, 30.0))
    assert seen.mean() == pytest.approx(expected, rel=0.06)
    # Little's law: the audience holds through the hour, not only at the peak
    held = over_time(plan, np.linspace(5, 55, 11) * minute).groupby("t_s")["listeners"].sum()
    assert held.to_numpy() == pytest.approx(np.full(11, 1_998.0), rel=0.08)
    assert plan.duration_s == pytest.approx(WINDOW_MIN)


def test_room_events_come_at_the_scenarios_rates():
    params = RoomParams(messages_per_listener_hour=3.0, speak_requests_per_listener_hour=1.0,
                        removals_per_listener_hour=0.5, host_invites_per_room_hour=6.0)
    plan = plan_replay(steady_rooms([800.0, 1_200.0], [3, 2]), params,
                       ReplaySpec(users=2_005, rooms=2, speedup=30.0, seed=5))
    listeners = plan.sessions[plan.sessions["role"] == "listener"]
    hours = float((listeners["leave_s"] - listeners["arrive_s"]).sum()) * 30.0 / 3600.0
    counts = plan.events["kind"].value_counts()
    for kind, (name, per) in EVENT_RATES.items():
        expected = getattr(params, name) * (hours if per == "listener-hour" else 2.0)
        assert abs(counts.get(kind, 0) - expected) < 4 * np.sqrt(expected) + 1, kind
    # each listener event falls inside its session, in its room
    joined = plan.events.merge(plan.sessions, on="session", suffixes=("", "_s"))
    assert (joined["room"] == joined["room_s"]).all()
    assert ((joined["arrive_s"] <= joined["time_s"]) & (joined["time_s"] <= joined["leave_s"])
            ).all()
    assert set(plan.rates["source"]) == {f"scenario [rooms] {name}"
                                         for name, _ in EVENT_RATES.values()}


def test_a_seat_plays_one_session_at_a_time(sim_peak):
    plan = plan_replay(sim_peak, PARAMS, ReplaySpec(users=80, rooms=6, seed=1))
    sessions = plan.sessions
    for _, mine in sessions.sort_values("arrive_s").groupby("seat"):
        assert (mine["arrive_s"].to_numpy()[1:] >= mine["leave_s"].to_numpy()[:-1] + 1.0).all()
    most = max_overlap(sessions["arrive_s"].to_numpy(), sessions["leave_s"].to_numpy())
    assert most <= sessions["seat"].nunique() <= 2 * most


def test_a_run_folder_without_room_ends_gets_ends_from_the_scenarios_durations(sim_peak):
    older = sim_peak.drop(columns=["end_min"])
    plan = plan_replay(older, PARAMS, ReplaySpec(users=200, rooms=30, seed=3))
    assert plan.derived_ends
    assert (plan.rooms["end_s"] > plan.peak_s).all()
    assert (plan.rooms["end_s"] < plan.duration_s).sum() >= 5  # a median room is 45 min


@pytest.mark.parametrize(("spec", "field"), [
    (ReplaySpec(users=2), "--users"),
    (ReplaySpec(users=30, speedup=0.5), "--speedup"),
    (ReplaySpec(users=30, rooms=-1), "--replay-rooms"),
    (ReplaySpec(users=5, rooms=5), "--users"),
])
def test_a_bad_spec_names_its_option(sim_peak, spec, field):
    with pytest.raises(ValueError, match=field):
        plan_replay(sim_peak, PARAMS, spec)


def test_rooms_by_default_leave_half_the_swarm_to_listen(sim_peak):
    plan = plan_replay(sim_peak, PARAMS, ReplaySpec(users=14, seed=2))
    assert 2 * plan.rooms["speakers"].sum() <= 14 or len(plan.rooms) == 1
    assert plan.rooms["listeners_at_peak"].sum() + plan.rooms["speakers"].sum() == 14

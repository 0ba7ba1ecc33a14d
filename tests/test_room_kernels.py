"""The compiled kernels (sim.room_kernels) give the numpy path's numbers bit for bit.

Every test runs the same thing twice, kernels on and off (the numpy code is the fallback where
numba is missing), and asserts exact equality: same tables, same random stream afterwards.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from sim import room_kernels
from sim.model import run_replication
from sim.room_sessions import Sessions, generate_sessions, hourly_count, poisson_points
from sim.room_stage import StageLog, run_stage
from sim.rooms import DayResult, DayRooms, RoomParams, _stage_plan, simulate_day
from tests.conftest import small_scenario
from tests.test_rooms import make_rooms, mix_day

pytestmark = pytest.mark.skipif(room_kernels.numba is None, reason="numba is not installed")


def both(monkeypatch: pytest.MonkeyPatch, run):
    """``run()`` with the kernels off, then on."""
    monkeypatch.setattr(room_kernels, "ENABLED", False)
    numpy_result = run()
    monkeypatch.setattr(room_kernels, "ENABLED", True)
    return numpy_result, run()


def assert_same_day(a: DayResult, b: DayResult) -> None:
    pd.testing.assert_frame_equal(a.hourly, b.hourly, check_exact=True)
    pd.testing.assert_frame_equal(a.per_minute, b.per_minute, check_exact=True)
    pd.testing.assert_frame_equal(a.peak_rooms, b.peak_rooms, check_exact=True)
    pd.testing.assert_frame_equal(a.removals, b.removals, check_exact=True)
    assert (a.sessions, a.events, a.max_speakers) == (b.sessions, b.events, b.max_speakers)
    np.testing.assert_array_equal(a.room_max_speakers, b.room_max_speakers)


def day_and_state(day: DayRooms, params: RoomParams, seed: int, **options: object):
    def run():
        rng = np.random.default_rng(seed)
        result = simulate_day(day, params, rng, **options)
        return result, rng.bit_generator.state

    return run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_mixed_day_is_the_same(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    params = RoomParams(removals_per_listener_hour=0.3, speak_requests_per_listener_hour=0.5)
    day = mix_day(250, seed=seed, params=params)
    (a, state_a), (b, state_b) = both(monkeypatch, day_and_state(day, params, seed))
    assert len(a.removals) > 10 and (a.hourly["rejoins_blocked"] > 0).any()
    assert_same_day(a, b)
    assert state_a == state_b


def test_thinned_rooms_past_midnight_and_recorded_sessions_are_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = RoomParams(removals_per_listener_hour=0.2)
    day = make_rooms([1_300.0, 10.0, 700.0, 1_439.5], [400.0, 30.0, 0.0, 200.0],
                     [20_000.0, 5.0, 10.0, 300.0], [2.5, 1.0, 3.0, 1.5],
                     [False, True, False, True])
    (a, state_a), (b, state_b) = both(
        monkeypatch,
        day_and_state(day, params, 7, max_room_sessions=50_000, record_sessions=True),
    )
    assert a.sessions > 40_000
    assert_same_day(a, b)
    assert a.session_log is not None and b.session_log is not None
    pd.testing.assert_frame_equal(a.session_log, b.session_log, check_exact=True)
    assert state_a == state_b


def test_an_empty_day_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    day = make_rooms([], [], [])
    (a, _), (b, _) = both(monkeypatch, day_and_state(day, RoomParams(), 0))
    assert_same_day(a, b)


def test_rooms_without_listeners_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    day = make_rooms([100.0, 200.0, 300.0], [50.0, 60.0, 0.0], [0.0, 0.0, 0.0])
    (a, _), (b, _) = both(monkeypatch, day_and_state(day, RoomParams(), 3))
    assert a.sessions == 0
    assert_same_day(a, b)


def sessions_of(seed: int) -> Sessions:
    day = mix_day(120, seed=seed)
    room_end = day.start_min + day.duration_min
    return generate_sessions(day.start_min, room_end, day.audience, day.ticketed, RoomParams(),
                             np.random.default_rng(seed))


def test_generated_sessions_and_points_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = both(monkeypatch, lambda: sessions_of(9))
    for field in dataclasses.fields(Sessions):
        np.testing.assert_array_equal(getattr(a, field.name), getattr(b, field.name))
    rate = np.linspace(0.0, 0.05, len(a.first) - 1)

    def points():
        return poisson_points(a.first, a.start, a.end, a.cum, rate, np.random.default_rng(4))

    for x, y in zip(*both(monkeypatch, points), strict=True):
        np.testing.assert_array_equal(x, y)


def test_points_hourly_counts_the_points_times() -> None:
    first = np.array([0, 2, 4], dtype=np.int64)
    start = np.array([0.0, 1.0, 1_400.0, 1_430.0])
    end = np.array([1.0, 3.0, 1_500.0, 1_440.0])
    cum = np.array([0.0, 1.0, 3.0, 103.0, 113.0])
    k = np.array([3, 4], dtype=np.int64)
    uniform = np.array([0.99, 0.2, 0.7, 0.0, 0.5, 0.95, 0.3])
    room, session, time = room_kernels.points(first, start, end, cum, k, uniform.copy())
    np.testing.assert_array_equal(room, [0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(session, [0, 1, 1, 2, 2, 2, 3])
    assert np.all((time >= start[session]) & (time <= end[session]))
    weight = np.array([2.0, 3.0])
    hours = room_kernels.points_hourly(first, start, end, cum, k, uniform.copy(), weight)
    np.testing.assert_array_equal(hours, hourly_count(time, weight[room]))


def test_points_sorted_room_by_room_when_rooms_overlap() -> None:
    # Rooms' listener-times follow each other; if rounding let them overlap, one global sort
    # would mix the rooms' points, so each room is sorted on its own.
    first = np.array([0, 1, 2], dtype=np.int64)
    cum = np.array([0.0, 2.0, 1.0])  # (room 1 made to lie below room 0's top)
    k = np.array([2, 2], dtype=np.int64)
    placed = room_kernels._sorted_positions(first, cum, k, np.array([0.95, 0.1, 0.1, 0.8]))
    np.testing.assert_allclose(placed, [0.2, 1.9, 1.2, 1.9])


def test_points_sorted_room_by_room_as_numpy_sorts() -> None:
    # The linear-time sort gives numpy's order: rooms of 0 to 5,000 points, ties included.
    rng = np.random.default_rng(0)
    k = np.array([0, 1, 17, 5000, 300, 2], dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(rng.integers(1, 50, k.shape[0]))]).astype(np.int64)
    cum = np.concatenate([[0.0], np.cumsum(rng.random(int(first[-1])) * 30.0)])
    uniform = rng.random(int(k.sum()))
    uniform[::3] = 0.5
    placed = room_kernels._sorted_positions(first, cum, k, uniform.copy())
    room = np.repeat(np.arange(k.shape[0]), k)
    expected = np.repeat(cum[first[:-1]], k) + uniform * np.repeat(np.diff(cum[first]), k)
    np.testing.assert_array_equal(placed, expected[np.lexsort((expected, room))])


def test_points_by_time_within_rooms_as_lexsort() -> None:
    rng = np.random.default_rng(1)
    room = np.repeat(np.arange(6), [0, 1, 40, 3, 0, 500])
    time = np.round(rng.random(room.shape[0]) * 20.0)  # many ties: their order is kept
    first = np.searchsorted(room, np.arange(7)).astype(np.int64)
    np.testing.assert_array_equal(room_kernels.by_time_within_rooms(first, time),
                                  np.lexsort((time, room)))


def test_a_small_replication_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = small_scenario(hosting={"room_day_stride": 60})
    a, b = both(monkeypatch, lambda: run_replication(scenario, seed=3, rep=0))
    for name in ("rooms", "rooms_daily", "revenue", "reach", "peak_rooms", "payouts"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert {k: v for k, v in a.stats.items() if k != "seconds"} == {
        k: v for k, v in b.stats.items() if k != "seconds"
    }


@pytest.mark.parametrize("batch", [True, False])
def test_the_compiled_stage_logs_the_same_in_the_same_order(
    monkeypatch: pytest.MonkeyPatch, batch: bool
) -> None:
    # A busy stage: many requests and invitations, full stages, removals of speakers.
    params = RoomParams(
        speak_requests_per_listener_hour=3.0,
        invite_prob=0.4,
        initial_speakers_mean=6.0,
        cohost_prob=0.7,
        removals_per_listener_hour=0.5,
        host_invites_per_room_hour=20.0,
    )
    day = mix_day(80, seed=4, params=params)
    rng = np.random.default_rng(2)
    room_end = day.start_min + day.duration_min
    sess = generate_sessions(day.start_min, room_end, day.audience * 5.0, day.ticketed, params,
                             rng)
    plan = dataclasses.replace(_stage_plan(sess, day.start_min, room_end, params, rng),
                               batch_declines=batch)
    python, compiled = both(monkeypatch, lambda: run_stage(plan))
    assert len(python.removal_id) > 20 and len(python.host_invite_room) > 50
    assert python.events == compiled.events
    for field in dataclasses.fields(StageLog):
        np.testing.assert_array_equal(np.asarray(getattr(python, field.name)),
                                      np.asarray(getattr(compiled, field.name)), field.name)


def test_warm_up_loads_every_kernel() -> None:
    assert room_kernels.warm_up() >= 0.0
    assert room_kernels.warm_up() < 0.5  # (loaded: nothing left to do)

"""The rooms at each sampled day's busiest minute, each with its own size: they add up to the
hourly table's peak, a thinned room is scaled back up, and the run folder has them."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import run_replication
from sim.peak_rooms import PEAK_ROOM_COLUMNS
from sim.rooms import RoomParams, simulate_day
from tests.conftest import small_scenario
from tests.test_rooms import make_rooms, mix_day


def test_the_rooms_at_the_peak_minute_add_up_to_the_days_peak() -> None:
    result = simulate_day(mix_day(), RoomParams(), np.random.default_rng(3))
    rooms = result.peak_rooms
    minute = int(rooms["minute"].iloc[0])
    at = result.per_minute.iloc[minute]
    weight = rooms["weight"]
    assert (weight * rooms["listeners"]).sum() == pytest.approx(at["listeners"])
    assert at["listeners"] == pytest.approx(result.hourly["listeners_peak"].max())
    assert (weight * rooms["speakers"]).sum() == pytest.approx(at["speakers"])
    assert weight.sum() == pytest.approx(at["live_rooms"])
    assert list(rooms.columns) == list(PEAK_ROOM_COLUMNS)
    assert rooms["room"].is_unique and (rooms["speakers"] >= 1).all()  # the host is on stage


def test_a_room_past_midnight_is_live_in_the_early_hours_and_its_size_is_its_own() -> None:
    params = RoomParams(speak_requests_per_listener_hour=0.0, removals_per_listener_hour=0.0)
    rooms = make_rooms([23 * 60.0 + 30.0, 600.0], [120.0, 30.0], [400.0, 20.0])
    result = simulate_day(rooms, params, np.random.default_rng(0), record_sessions=True)
    peak = result.peak_rooms
    assert peak["room"].tolist() == [0] and int(peak["minute"].iloc[0]) < 90
    log = result.session_log
    assert log is not None
    minute = int(peak["minute"].iloc[0]) + 1440  # the room's own, unfolded, time
    live = (np.ceil(log["start_min"]) <= minute) & (minute < np.ceil(log["end_min"]))
    assert peak["listeners"].iloc[0] == live.sum() > 300


def test_a_thinned_room_is_scaled_back_to_its_real_listeners() -> None:
    params = RoomParams(removals_per_listener_hour=0.0)
    rooms = make_rooms([600.0], [300.0], [60_000.0])
    thin = simulate_day(rooms, params, np.random.default_rng(0), max_room_sessions=50_000)
    assert thin.peak_rooms["listeners"].iloc[0] == pytest.approx(60_000, rel=0.05)


def test_each_sampled_day_has_its_peak_rooms_in_the_replication() -> None:
    replication = run_replication(small_scenario(), seed=2, rep=0)
    table = replication.peak_rooms
    assert list(table.columns[:2]) == ["rep", "date"] and (table["rep"] == 0).all()
    sampled = replication.rooms["date"].unique()
    assert set(table["date"].unique()) <= set(sampled) and table["date"].nunique() > 1
    by_day = (table["weight"] * table["listeners"]).groupby(table["date"]).sum()
    peaks = replication.rooms.groupby("date")["listeners_peak"].max()
    assert by_day.to_numpy() == pytest.approx(peaks.loc[by_day.index].to_numpy())

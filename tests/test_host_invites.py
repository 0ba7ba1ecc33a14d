"""The host's own invitations: at about the configured rate, never past the seat caps, and
exact under the request process's batched declines."""

from __future__ import annotations

import numpy as np
import pytest

from sim.rooms import RoomParams, simulate_day
from sim.rules.rooms import MAX_COHOSTS, STAGE_CAPACITY
from tests.test_rooms import assert_same_stage, check_stage, make_rooms, mix_day

QUIET = {
    "speak_requests_per_listener_hour": 0.0,
    "removals_per_listener_hour": 0.0,
    "initial_speakers_mean": 0.0,
    "cohost_prob": 0.0,
}


def test_hosts_invite_at_about_the_configured_rate() -> None:
    rate = 6.0
    params = RoomParams(host_invites_per_room_hour=rate, speak_mean_min=1.0, **QUIET)
    n, minutes = 200, 60.0
    # Listeners present from the start (many, short stays) and a stage that is never full.
    rooms = make_rooms([600.0 + i for i in range(n)], [minutes] * n, [400.0] * n)
    result = simulate_day(rooms, params, np.random.default_rng(3), record_sessions=True)
    expected = rate * n * minutes / 60.0  # 1,200
    assert abs(result.hourly["host_invites"].sum() - expected) < 4 * np.sqrt(expected)
    assert result.hourly["invites"].sum() == 0.0  # nobody asked
    check_stage(result, n)


def test_no_invitations_without_the_rate_or_without_listeners() -> None:
    off = RoomParams(host_invites_per_room_hour=0.0)
    result = simulate_day(mix_day(80), off, np.random.default_rng(2))
    assert result.hourly["host_invites"].sum() == 0.0
    empty = make_rooms([100.0, 500.0], [60.0, 90.0], [0.0, 0.0])
    result = simulate_day(empty, RoomParams(host_invites_per_room_hour=60.0),
                          np.random.default_rng(2))
    assert result.hourly["host_invites"].sum() == 0.0


def test_a_flood_of_invitations_fills_the_stage_and_never_overflows_it() -> None:
    params = RoomParams(
        host_invites_per_room_hour=600.0,
        speak_mean_min=1_000.0,
        **{**QUIET, "cohost_prob": 1.0},
    )
    rooms = make_rooms([600.0, 700.0], [60.0, 90.0], [100.0, 40.0])
    result = simulate_day(rooms, params, np.random.default_rng(1), record_sessions=True)
    check_stage(result, 2)
    assert list(result.room_max_speakers) == [STAGE_CAPACITY, STAGE_CAPACITY]
    # Each room fills its 10 speaker seats at once; later invitations only replace leavers.
    invited = result.hourly["host_invites"].sum()
    assert invited >= 2 * (STAGE_CAPACITY - 1 - MAX_COHOSTS)
    assert result.speaker_log is not None
    assert (result.speaker_log["listener_id"] >= 0).sum() == invited


@pytest.mark.parametrize("seed", [3, 9])
def test_batched_declines_stay_exact_with_host_invitations(seed: int) -> None:
    # Small rooms, so the host often re-invites someone who spoke and asks again meanwhile.
    params = RoomParams(
        host_invites_per_room_hour=30.0,
        speak_requests_per_listener_hour=4.0,
        invite_prob=0.3,
        speak_mean_min=3.0,
        removals_per_listener_hour=0.3,
        sessions_per_listener=3.0,
    )
    day = mix_day(60, seed=seed, params=params)
    assert_same_stage(params, day, seed=seed)

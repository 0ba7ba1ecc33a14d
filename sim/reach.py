"""Spaces' reach on a day: listener sessions, unique listeners, unique hosts, share of mDAU.

Computed every day from the day's rooms (their hosts, weights and drawn audiences) with the
same listener model the sampled days simulate (``sim.room_sessions``), in expectation, so it
needs no random draws and exists on days whose rooms are not run event by event:

* a room with expected concurrency ``a`` running ``d`` minutes has ``a * d / listen_mean_min``
  listener sessions (``d``: the mean of the cut lognormal duration); a ticketed room has one
  per ticket sold;
* its distinct listeners are its sessions over ``sessions_per_listener`` (ticketed: one each);
* the day's unique listeners are the rooms' distinct listeners (weighted) over
  ``rooms_per_listener_day`` (assumption: every listener of the day hears that many rooms),
  never more than the day's mDAU;
* unique hosts are the weighted hosts of the day's rooms: a panel host starts at most one room
  a day, so they equal the rooms started.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim.room_params import RoomParams

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Columns of the ``reach`` table besides rep and date.
REACH_COLUMNS = ("listener_sessions", "unique_listeners", "unique_hosts",
                 "listeners_share_of_mdau")


@dataclass(frozen=True)
class RoomListeners:
    """Per room: expected listener sessions and distinct listeners."""

    sessions: FloatArray
    distinct: FloatArray


def mean_room_duration_min(params: RoomParams) -> float:
    """Mean of the lognormal room duration cut at ``duration_max_min`` (``rooms.draw_schedule``)."""
    median, sigma, cap = params.duration_median_min, params.duration_sigma, params.duration_max_min
    if sigma == 0.0:
        return min(median, cap)
    mu = math.log(median)
    z = (math.log(cap) - mu) / sigma
    below = math.exp(mu + sigma * sigma / 2.0) * _normal_cdf(z - sigma)
    return below + cap * (1.0 - _normal_cdf(z))


def room_listeners(audience: FloatArray, duration_min: FloatArray | float, ticketed: BoolArray,
                   params: RoomParams) -> RoomListeners:
    """Expected sessions and distinct listeners of rooms (ticketed: ``audience`` = tickets)."""
    audience = np.maximum(np.asarray(audience, dtype=np.float64), 0.0)
    free_sessions = audience * np.asarray(duration_min, dtype=np.float64) / params.listen_mean_min
    sessions = np.where(ticketed, audience, free_sessions)
    distinct = np.where(ticketed, audience, free_sessions / params.sessions_per_listener)
    return RoomListeners(sessions=sessions, distinct=distinct)


def day_reach(audience: FloatArray, ticketed: BoolArray, weight: FloatArray, mdau: float,
              params: RoomParams) -> dict[str, float]:
    """One day's reach (full scale) from its panel rooms: the ``REACH_COLUMNS``."""
    listeners = room_listeners(audience, mean_room_duration_min(params), ticketed, params)
    weight = np.asarray(weight, dtype=np.float64)
    sessions = float((weight * listeners.sessions).sum())
    unique = min(float((weight * listeners.distinct).sum()) / params.rooms_per_listener_day, mdau)
    return {
        "listener_sessions": sessions,
        "unique_listeners": unique,
        "unique_hosts": float(weight.sum()),
        "listeners_share_of_mdau": unique / mdau if mdau > 0 else 0.0,
    }


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

"""Aggregated listeners: every listener session of a day's rooms generated at once with numpy.

No listener is a SimPy process. A room with expected concurrency ``a`` and mean stay ``m`` gets
Poisson(``a * duration / m``) sessions arriving uniformly over its life (a Poisson arrival
process of rate ``a / m``), so by Little's law its concurrency settles at ``a`` once the room
has run for a few stays. Stays are lognormal with mean ``m``, cut at the room's end. Events
that happen *to listeners* at a rate per listener-hour (requests to speak, removals,
messages) are Poisson points on the room's listener-time: a point is a uniform position in
the concatenated session durations, which selects a session in proportion to its length and a
moment inside it -- exactly a Poisson process run on every listener present.

Concurrency is sampled at every whole minute: session ``[start, end)`` covers minute ``m`` iff
``ceil(start) <= m < ceil(end)``, so one ``np.bincount`` of ceil(start) minus one of ceil(end),
cumulated, gives the weighted concurrency of the whole day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim.room_params import RoomParams

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

MINUTES_PER_DAY = 1440


@dataclass
class Sessions:
    """Listener sessions of one day, grouped by room (room ``r`` owns ``first[r]:first[r+1]``)."""

    room: IntArray  # room index of each session
    listener_id: IntArray  # day-unique id: pool_first[room] + index in the room's audience pool
    start: FloatArray  # minutes after 00:00 UTC (not wrapped)
    end: FloatArray  # start <= end <= room end
    first: IntArray  # len(rooms) + 1 offsets into the session arrays
    pool_first: IntArray  # len(rooms) + 1 offsets of each room's listener ids
    scale: FloatArray  # per room: real listeners each simulated one stands for (>= 1)

    def __len__(self) -> int:
        return int(self.room.shape[0])


def generate_sessions(
    room_start: FloatArray,
    room_end: FloatArray,
    audience: FloatArray,
    ticketed: BoolArray,
    params: RoomParams,
    rng: np.random.Generator,
    max_room_sessions: float | None = None,
) -> Sessions:
    """Draw every listener session of the given rooms (vectorised over all rooms at once).

    A room expected to have more than ``max_room_sessions`` sessions is thinned: it gets that
    many on average, each standing for ``scale`` real listeners (``Sessions.scale``).
    """
    n_rooms = room_start.shape[0]
    duration = room_end - room_start
    audience = np.maximum(audience, 0.0)
    expected = np.where(ticketed, audience, audience * duration / params.listen_mean_min)
    scale = np.ones(n_rooms)
    if max_room_sessions is not None:
        scale = np.maximum(1.0, expected / max_room_sessions)
        audience = audience / scale
        expected = expected / scale
    counts = rng.poisson(np.where(ticketed, 0.0, expected)).astype(np.int64)
    if ticketed.any():
        # Each ticket holder comes once; a fractional ticket count is rounded at random.
        whole = np.floor(audience[ticketed])
        extra = rng.random(whole.shape[0]) < (audience[ticketed] - whole)
        counts[ticketed] = whole.astype(np.int64) + extra
    first = np.zeros(n_rooms + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    # Audience pool: ~sessions_per_listener visits per distinct listener (ticketed: one each).
    pool = np.where(
        ticketed, counts, np.ceil(counts / params.sessions_per_listener).astype(np.int64)
    )
    pool_first = np.zeros(n_rooms + 1, dtype=np.int64)
    np.cumsum(pool, out=pool_first[1:])

    n = int(first[-1])
    room = np.repeat(np.arange(n_rooms, dtype=np.int64), counts)
    local = np.arange(n, dtype=np.int64) - first[room]
    # Visit i of a room belongs to listener floor(i * pool / count): arrivals are i.i.d., so this
    # is a random assignment giving each listener ~sessions_per_listener visits.
    listener_id = pool_first[room] + (local * pool[room]) // np.maximum(counts[room], 1)

    r_start = room_start[room]
    r_end = room_end[room]
    start = r_start + rng.random(n) * duration[room]
    sigma = params.listen_sigma
    mu = np.log(params.listen_mean_min) - 0.5 * sigma * sigma
    stay = np.exp(mu + sigma * rng.standard_normal(n))
    end = np.minimum(start + stay, r_end)
    if ticketed.any():
        held = ticketed[room]
        delay = rng.exponential(params.ticket_arrival_mean_min, int(held.sum()))
        start[held] = np.minimum(r_start[held] + delay, r_end[held])
        end[held] = r_end[held]
    return Sessions(room, listener_id, start, end, first, pool_first, scale)


def poisson_points(
    first: IntArray,
    start: FloatArray,
    end: FloatArray,
    rate_per_min: float | FloatArray,
    rng: np.random.Generator,
    *,
    want_session: bool = True,
) -> tuple[IntArray, IntArray, FloatArray]:
    """Poisson points at ``rate_per_min`` per listener-minute: (room, session, time), by room.

    ``rate_per_min`` is one rate or one per room. Points come out grouped by room (rooms in
    order), times unsorted within a room.
    """
    n_rooms = first.shape[0] - 1
    cum = np.zeros(start.shape[0] + 1)
    np.cumsum(end - start, out=cum[1:])
    room_lo = cum[first[:-1]]
    room_time = cum[first[1:]] - room_lo
    k = rng.poisson(rate_per_min * room_time).astype(np.int64)
    room = np.repeat(np.arange(n_rooms, dtype=np.int64), k)
    u = room_lo[room] + rng.random(room.shape[0]) * room_time[room]
    session = np.searchsorted(cum, u, side="right").astype(np.int64) - 1
    np.clip(session, first[room], first[room + 1] - 1, out=session)
    time = np.clip(start[session] + (u - cum[session]), start[session], end[session])
    if not want_session:
        session = np.empty(0, dtype=np.int64)
    return room, session, time


def minute_concurrency(start: FloatArray, end: FloatArray, weight: FloatArray) -> FloatArray:
    """Weighted number of intervals covering each whole minute of the day (length 1440).

    Time past midnight is folded back onto the same day (steady-state day).
    """
    if start.shape[0] == 0:
        return np.zeros(MINUTES_PER_DAY)
    lo = np.ceil(start).astype(np.int64)
    hi = np.ceil(end).astype(np.int64)
    length = int(hi.max()) + 1
    length = -(-length // MINUTES_PER_DAY) * MINUTES_PER_DAY
    diff = np.bincount(lo, weights=weight, minlength=length)
    diff -= np.bincount(hi, weights=weight, minlength=length)
    conc = np.cumsum(diff).reshape(-1, MINUTES_PER_DAY).sum(axis=0)
    # A cumsum of +w and -w can leave -1e-12 behind: never report a negative count.
    out: FloatArray = np.maximum(conc, 0.0)
    return out


def hourly_mean_peak(conc: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean and maximum over the 60 minute samples of each hour."""
    by_hour = conc.reshape(24, 60)
    return by_hour.mean(axis=1), by_hour.max(axis=1)


def hourly_count(time: FloatArray, weight: FloatArray | None = None) -> FloatArray:
    """(Weighted) number of events in each hour of the day, time past midnight folded back."""
    if time.shape[0] == 0:
        return np.zeros(24)
    hour = (time * (1.0 / 60.0)).astype(np.int64)
    counts = np.bincount(hour, weights=weight, minlength=24).astype(np.float64)
    counts = np.pad(counts, (0, -counts.shape[0] % 24))
    folded: FloatArray = counts.reshape(-1, 24).sum(axis=0)
    return folded

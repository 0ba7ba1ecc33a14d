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

from sim import room_kernels as kernels
from sim.room_params import RoomParams

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

MINUTES_PER_DAY = 1440


@dataclass
class Sessions:
    """Listener sessions of one day, grouped by room (room ``r`` owns ``first[r]:first[r+1]``).

    Which room a session belongs to and its listener's id follow from the offsets, so they are
    worked out on demand (``room``, ``listener_ids``): a day has millions of sessions and most
    of them never need either.
    """

    start: FloatArray  # minutes after 00:00 UTC (not wrapped)
    end: FloatArray  # start <= end <= room end
    first: IntArray  # len(rooms) + 1 offsets into the session arrays
    pool_first: IntArray  # len(rooms) + 1 offsets of each room's listener ids
    scale: FloatArray  # per room: real listeners each simulated one stands for (>= 1)
    cum: FloatArray  # len + 1: listener-time before each session (``listener_time_offsets``)

    def __len__(self) -> int:
        return int(self.start.shape[0])

    @property
    def counts(self) -> IntArray:
        """Sessions per room."""
        return np.diff(self.first)

    @property
    def room(self) -> IntArray:
        """Room index of each session."""
        return np.repeat(np.arange(self.first.shape[0] - 1, dtype=np.int64), self.counts)

    @property
    def listener_id(self) -> IntArray:
        """Day-unique listener id of each session (``listener_ids`` of every session)."""
        return self.listener_ids(np.arange(len(self), dtype=np.int64), self.room)

    def listener_ids(self, session: IntArray, room: IntArray) -> IntArray:
        """Listener id of the given sessions (``room``: their rooms).

        Visit ``i`` of a room with ``count`` visits and ``pool`` listeners belongs to listener
        ``pool_first[room] + i * pool // count``: arrivals are i.i.d., so this is a random
        assignment giving each listener ~sessions_per_listener visits.
        """
        count = self.first[room + 1] - self.first[room]
        pool = self.pool_first[room + 1] - self.pool_first[room]
        local = session - self.first[room]
        ids: IntArray = self.pool_first[room] + (local * pool) // np.maximum(count, 1)
        return ids

    def sessions_of(self, listener: IntArray, room: IntArray) -> tuple[IntArray, IntArray]:
        """Half-open session ranges ``[lo, hi)`` of the given listeners (the inverse of
        ``listener_ids``: a listener's visits are consecutive sessions of their room)."""
        count = self.first[room + 1] - self.first[room]
        pool = np.maximum(self.pool_first[room + 1] - self.pool_first[room], 1)
        local = listener - self.pool_first[room]
        # i * pool // count == local  <=>  ceil(local * count / pool) <= i < ceil(...(local+1)...)
        lo: IntArray = self.first[room] - (-(local * count) // pool)
        hi: IntArray = self.first[room] - (-((local + 1) * count) // pool)
        return lo, hi


def listener_time_offsets(start: FloatArray, end: FloatArray) -> FloatArray:
    """Cumulated session durations with a leading 0: session ``s`` covers listener-time
    ``[cum[s], cum[s+1])`` of the day (the axis ``poisson_points`` draws on)."""
    cum = np.empty(start.shape[0] + 1)
    cum[0] = 0.0
    np.subtract(end, start, out=cum[1:])
    np.cumsum(cum[1:], out=cum[1:])
    return cum


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
    any_ticketed = bool(ticketed.any())
    if any_ticketed:
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
    sigma = params.listen_sigma
    mu = np.log(params.listen_mean_min) - 0.5 * sigma * sigma
    if kernels.ENABLED:  # the same draws, then one compiled loop (sim.room_kernels)
        uniform = rng.random(n)
        # ``normal`` draws the same standard normals and makes each ``mu + sigma * z``, as the
        # numpy path's two passes do (same draws, same rounding), in one pass.
        stay = rng.normal(mu, sigma, n)
        np.exp(stay, out=stay)
        delay = (rng.exponential(params.ticket_arrival_mean_min, int(counts[ticketed].sum()))
                 if any_ticketed else np.empty(0))
        start, end, cum = kernels.fill_sessions(first, room_start, room_end, ticketed, uniform,
                                                stay, delay)
        return Sessions(start, end, first, pool_first, scale, cum)
    # Per-room values repeated per session (np.repeat: same values as indexing by room, faster).
    r_end = np.repeat(room_end, counts)
    start = rng.random(n)
    start *= np.repeat(duration, counts)
    start += np.repeat(room_start, counts)
    stay = rng.standard_normal(n)
    stay *= sigma
    stay += mu
    np.exp(stay, out=stay)
    end = np.add(start, stay, out=stay)
    np.minimum(end, r_end, out=end)
    if any_ticketed:
        held = np.repeat(ticketed, counts)
        delay = rng.exponential(params.ticket_arrival_mean_min, int(held.sum()))
        r_start = np.repeat(room_start, counts)
        start[held] = np.minimum(r_start[held] + delay, r_end[held])
        end[held] = r_end[held]
    return Sessions(start, end, first, pool_first, scale, listener_time_offsets(start, end))


def poisson_points(
    first: IntArray,
    start: FloatArray,
    end: FloatArray,
    cum: FloatArray,
    rate_per_min: float | FloatArray,
    rng: np.random.Generator,
    *,
    want_session: bool = True,
) -> tuple[IntArray, IntArray, FloatArray]:
    """Poisson points at ``rate_per_min`` per listener-minute: (room, session, time), by room.

    ``cum`` is ``listener_time_offsets(start, end)``; ``rate_per_min`` is one rate or one per
    room. Points come out grouped by room (rooms in order), in order of listener-time within a
    room (not of clock time).
    """
    n_rooms = first.shape[0] - 1
    room_lo = cum[first[:-1]]
    room_time = cum[first[1:]] - room_lo
    k = rng.poisson(rate_per_min * room_time).astype(np.int64)
    if kernels.ENABLED:
        room, session, time = kernels.points(first, start, end, cum, k, rng.random(int(k.sum())))
        return room, session if want_session else np.empty(0, dtype=np.int64), time
    room = np.repeat(np.arange(n_rooms, dtype=np.int64), k)
    u = rng.random(room.shape[0])
    u *= np.repeat(room_time, k)
    u += np.repeat(room_lo, k)
    # Which point of a room is which does not matter (they are i.i.d.), so sort them: a search
    # with sorted keys is several times faster. Rooms' listener-times follow each other, so a
    # global sort is a sort within each room unless rounding let two rooms' points overlap.
    u = np.sort(u) if _blocks_in_order(u, k) else u[np.lexsort((u, room))]
    session = np.searchsorted(cum, u, side="right").astype(np.int64) - 1
    np.clip(session, np.repeat(first[:-1], k), np.repeat(first[1:] - 1, k), out=session)
    s_start = start[session]
    time = np.clip(s_start + (u - cum[session]), s_start, end[session])
    if not want_session:
        session = np.empty(0, dtype=np.int64)
    return room, session, time


def poisson_hourly(
    first: IntArray,
    start: FloatArray,
    end: FloatArray,
    cum: FloatArray,
    rate_per_min: float | FloatArray,
    rng: np.random.Generator,
    weight: FloatArray,
) -> FloatArray:
    """``hourly_count`` of ``poisson_points``' times, each weighted by its room's ``weight``
    (the same draws and numbers, without the points themselves)."""
    if not kernels.ENABLED:
        room, _, time = poisson_points(first, start, end, cum, rate_per_min, rng,
                                       want_session=False)
        return hourly_count(time, weight[room])
    room_lo = cum[first[:-1]]
    room_time = cum[first[1:]] - room_lo
    k = rng.poisson(rate_per_min * room_time).astype(np.int64)
    return kernels.points_hourly(first, start, end, cum, k, rng.random(int(k.sum())), weight)


def _blocks_in_order(u: FloatArray, k: IntArray) -> bool:
    """Whether every room's points lie at or below the next (non-empty) room's points."""
    lo = np.flatnonzero(k)
    if lo.shape[0] < 2:
        return True
    offsets = np.concatenate([[0], np.cumsum(k[lo])[:-1]])
    top = np.maximum.reduceat(u, offsets)
    bottom = np.minimum.reduceat(u, offsets)
    return bool(np.all(top[:-1] <= bottom[1:]))


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

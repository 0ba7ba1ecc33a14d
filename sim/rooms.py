"""Rooms: one sampled day of live audio rooms, simulated in SimPy with aggregated listeners.

The full model hands this module every room its host panel starts on a *sampled day*; each
panel room carries a weight (the real rooms it stands for) and the per-hour outputs are scaled
back up by those weights. Nothing is capped except by the model: a room's audience is as large
as its (heavy-tailed) draw, and weighted peaks are maxima of the weighted per-minute sums, so a
single huge room shows up in the hour it is live.

What is simulated event by event (SimPy, one ``Environment`` per day, time in minutes; see
:mod:`sim.room_stage`):

* the hosts starting their rooms through the day at their (diurnal) start times; each room is
  open from its start to its end;
* each room with anything to happen on its stage, as a SimPy process of its own: the host, up
  to 2 co-hosts and up to 10 speakers hold its 13 seats (a seat is only given when one is free,
  and a counter keeps the 10 speakers besides host and co-hosts). The process sleeps until the
  host's next act and does it: taking a request to speak (the listener takes a seat and speaks
  until their time is up, then goes back to listening), seating a listener the host invites
  unasked (when a speaker seat is free; nobody otherwise), removing a listener (recorded as
  removed, taken off the stage if speaking, their rejoin attempt if any blocked). Requests the
  host declines (by choice, or because the stage is full) change nothing, so the process does
  not wake for them; they are settled for the whole day at its end, with the same outcome as
  waking for each (checked by a test, and against the previous process-per-speaker model).

What is computed with numpy rather than evented (see :mod:`sim.room_sessions`):

* listener sessions: all sessions of all rooms of the day are drawn at once (Poisson count so
  that steady-state concurrency equals the room's audience; uniform arrivals over the room's
  life; lognormal stays cut at the room's end; ids from a per-room audience pool so a listener
  can come back). A process per listener is 30-60x slower (``python -m sim.bench``);
* the *times* of requests to speak and of removals: Poisson points at a rate per listener-hour
  on the room's listener-time, which picks a listener present at that moment; the host's own
  invitations likewise, at ``host_invites_per_room_hour`` over the room's life spread over its
  listener-time (a room nobody listens to gets none). The host's
  decisions, the stage and the removals themselves are then evented as above;
* after the events, removals are applied to the sessions: a removed listener's session ends at
  the removal and any later session of the same id is dropped and counted as a blocked rejoin;
* messages to the host: Poisson points on the final listener-time (only their hour matters);
* concurrency (live rooms, speakers, listeners): sampled at every whole minute from one
  ``np.bincount`` over all interval starts and ends; the hourly mean and peak are the mean and
  maximum of the 60 weighted minute samples of the hour.

Approximations:

* Steady-state day: a room running past midnight wraps its overflow onto the early hours of
  the same day (every minute count and event time is taken modulo 24 h), as if the previous
  day's late rooms were this day's. A day's totals are unchanged by the wrap.
* Weighted peaks: a panel room of weight ``w`` counts as ``w`` identical rooms, so weighted
  peaks are somewhat more variable than the real world's (identical rooms rise and fall
  together); heavy tails survive, they are not averaged away.
* Listener counts include listeners who are on stage (at most 10 per room); an invited
  speaker's listening visit is not stretched to cover their time on stage; two visits of the
  same listener id may overlap in time (visits are drawn independently).
* Memory bound: a room expected to have more than ``max_room_sessions`` (default 2M) sessions,
  i.e. ~100,000+ concurrent listeners for hours, is simulated with a thinned sample of its
  listeners, each standing for ``scale`` real ones (weights multiply). Its mean and peak
  concurrency are kept (relative noise at 2M sessions is < 0.1%); its requests to speak are
  drawn at the full real rate, so the host and stage see the real request stream.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sim import room_kernels as kernels
from sim.peak_rooms import rooms_at_peak
from sim.room_params import RoomParams
from sim.room_sessions import (
    MINUTES_PER_DAY,
    Sessions,
    generate_sessions,
    hourly_count,
    hourly_mean_peak,
    minute_concurrency,
    poisson_hourly,
    poisson_points,
)
from sim.room_stage import StagePlan, run_stage
from sim.rules.rooms import MAX_COHOSTS

__all__ = [
    "HOURLY_COLUMNS",
    "HOURLY_DESCRIPTIONS",
    "DayResult",
    "DayRooms",
    "RoomParams",
    "draw_audience",
    "draw_schedule",
    "simulate_day",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Columns of ``DayResult.hourly`` (besides ``hour``), all weighted to full scale.
HOURLY_DESCRIPTIONS: dict[str, str] = {
    "rooms_started": "rooms started in the hour",
    "live_rooms_mean": "rooms live, mean of the hour's 60 minute samples",
    "live_rooms_peak": "rooms live, largest minute sample of the hour",
    "speakers_mean": "people on stage (hosts, co-hosts, speakers), mean of the minute samples",
    "speakers_peak": "people on stage, largest minute sample",
    "listeners_mean": "listeners connected, mean of the minute samples",
    "listeners_peak": "listeners connected, largest minute sample",
    "joins": "listener sessions started (blocked rejoins excluded)",
    "removals": "listeners removed by hosts",
    "rejoins_blocked": "attempts by removed listeners to come back, all blocked",
    "speak_requests": "requests to speak (invites + declines)",
    "invites": "requests the host accepted (the listener took a stage slot)",
    "declines": "requests declined, by choice or because the stage was full",
    "host_invites": "listeners the host invited to speak unasked (a speaker seat was free)",
    "messages": "messages sent by listeners to the host",
}
HOURLY_COLUMNS: tuple[str, ...] = tuple(HOURLY_DESCRIPTIONS)


def draw_audience(
    followers: NDArray[np.floating] | NDArray[np.integer],
    params: RoomParams,
    rng: np.random.Generator,
) -> FloatArray:
    """Expected concurrent listeners of a room for hosts with these follower counts.

    ``scale * followers**elasticity`` times lognormal noise of median 1 (heavy-tailed, float).
    """
    f = np.maximum(np.asarray(followers, dtype=np.float64), 0.0)
    noise = np.exp(params.audience_sigma * rng.standard_normal(f.shape))
    return np.asarray(params.audience_scale * f**params.audience_elasticity * noise)


def draw_schedule(
    n: int, params: RoomParams, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Start minute within the UTC day (diurnal) and duration in minutes for ``n`` rooms.

    Starts have density proportional to ``1 + A cos(2 pi (hour - peak_hour_utc) / 24)``, drawn
    by inverting its CDF; durations are lognormal, cut at ``duration_max_min``.
    """
    grid = np.arange(MINUTES_PER_DAY + 1, dtype=np.float64)
    phase = 2.0 * math.pi / MINUTES_PER_DAY
    peak = params.peak_hour_utc * 60.0
    amp = params.diurnal_amplitude / phase
    cdf = grid + amp * (np.sin(phase * (grid - peak)) - math.sin(-phase * peak))
    cdf /= cdf[-1]
    start = np.interp(rng.random(n), cdf, grid)
    start = np.minimum(start, np.nextafter(MINUTES_PER_DAY, 0.0))
    duration = params.duration_median_min * np.exp(params.duration_sigma * rng.standard_normal(n))
    return start, np.minimum(duration, params.duration_max_min)


@dataclass
class DayRooms:
    """Every room the panel hosts on one sampled day (one entry per panel room)."""

    host_id: IntArray  # int64 panel account id
    start_min: FloatArray  # minutes after 00:00 UTC of the day
    duration_min: FloatArray
    audience: FloatArray  # expected concurrent listeners (ticketed rooms: tickets sold)
    weight: FloatArray  # >= 0, real rooms this panel room stands for
    ticketed: BoolArray

    def __len__(self) -> int:
        return int(np.asarray(self.host_id).shape[0])

    def validate(self) -> None:
        """Raise ``ValueError`` if the arrays disagree in length or hold impossible values."""
        n = len(self)
        for name in ("start_min", "duration_min", "audience", "weight", "ticketed"):
            if np.asarray(getattr(self, name)).shape != (n,):
                raise ValueError(f"DayRooms.{name}: expected shape ({n},)")
        for name in ("start_min", "duration_min", "audience", "weight"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"DayRooms.{name}: values must be finite")
            if name != "start_min" and np.any(values < 0):
                raise ValueError(f"DayRooms.{name}: values must be >= 0")


@dataclass
class DayResult:
    """Outputs of one simulated day; ``hourly`` is weighted (full scale), the rest unweighted."""

    hourly: pd.DataFrame  # 24 rows (index and column ``hour`` = 0..23), HOURLY_COLUMNS
    sessions: int  # listener sessions simulated (unweighted, including blocked rejoins)
    events: int  # SimPy events processed
    max_speakers: int  # most concurrent speakers seen in any room (<= 13)
    room_max_speakers: IntArray  # per room
    removals: pd.DataFrame  # one row per removal: room, listener_id, time_min (unweighted)
    per_minute: pd.DataFrame  # 1440 rows: live_rooms, speakers, listeners (weighted)
    peak_rooms: pd.DataFrame  # rooms live at the busiest minute, each its size (sim.peak_rooms)
    session_log: pd.DataFrame | None = None  # only with record_sessions=True
    speaker_log: pd.DataFrame | None = None  # only with record_sessions=True


def simulate_day(
    rooms: DayRooms,
    params: RoomParams,
    rng: np.random.Generator,
    *,
    record_sessions: bool = False,
    max_room_sessions: float | None = 2_000_000,
) -> DayResult:
    """Simulate one day of rooms; see the module docstring for what is evented and computed.

    With ``record_sessions`` the result carries every listener session (room, listener_id,
    start_min, end_min, blocked) and every stage seat (room, listener_id or -1 for the host,
    co-hosts and opening speakers, start_min, end_min); it is meant for tests and small runs.

    A room expected to have more than ``max_room_sessions`` listener sessions (only rooms of
    ~100,000+ concurrent listeners) is simulated with a thinned sample of its listeners, each
    weighted up by the thinning factor, to bound memory (``None``: never thin).
    """
    params.validate()
    rooms.validate()
    # A start outside [0, 1440) is folded onto the day (steady-state day, see module docstring).
    room_start = np.asarray(rooms.start_min, dtype=np.float64) % MINUTES_PER_DAY
    room_end = room_start + np.asarray(rooms.duration_min, dtype=np.float64)
    weight = np.asarray(rooms.weight, dtype=np.float64)
    ticketed = np.asarray(rooms.ticketed, dtype=np.bool_)
    n_rooms = int(room_start.shape[0])

    audience = np.asarray(rooms.audience, dtype=np.float64)
    sess = generate_sessions(
        room_start, room_end, audience, ticketed, params, rng, max_room_sessions
    )
    plan = _stage_plan(sess, room_start, room_end, params, rng)
    log = run_stage(plan)

    start, end, cum = sess.start, sess.end, sess.cum
    removal_id = np.asarray(log.removal_id, dtype=np.int64)
    removal_time = np.asarray(log.removal_time, dtype=np.float64)
    removal_room = np.asarray(log.removal_room, dtype=np.int64)
    blocked = np.empty(0, dtype=np.int64)  # sessions of removed listeners after their removal
    if removal_id.shape[0]:
        blocked, cum = _apply_removals(sess, removal_room, removal_id, removal_time)
    # Per listener: the room's weight times the listeners a simulated one stands for.
    listener_weight = weight * sess.scale
    if kernels.ENABLED:  # one compiled pass over the sessions (sim.room_kernels)
        listeners, joins, top_minute = kernels.day_counts(
            sess.first, start, end, listener_weight, blocked
        )
        blocked_session_weight = listener_weight[
            np.searchsorted(sess.first, blocked, side="right") - 1
        ]
    else:
        session_weight = np.repeat(listener_weight, sess.counts)
        listeners = minute_concurrency(start, end, session_weight)
        # Blocked rejoins are not joins: they count with weight 0 (adding 0.0 changes no sum).
        join_weight = session_weight
        if blocked.shape[0]:
            join_weight = session_weight.copy()
            join_weight[blocked] = 0.0
        joins = hourly_count(start, join_weight)
        blocked_session_weight = session_weight[blocked]
    live_rooms = minute_concurrency(room_start, room_end, weight)
    speaker_room = np.asarray(log.speaker_room, dtype=np.int64)
    speakers = minute_concurrency(
        np.asarray(log.speaker_start, dtype=np.float64),
        np.asarray(log.speaker_end, dtype=np.float64),
        weight[speaker_room],
    )
    messages = poisson_hourly(
        sess.first,
        start,
        end,
        cum,
        params.messages_per_listener_hour / 60.0,
        rng,
        listener_weight,
    )

    columns: dict[str, FloatArray] = {"rooms_started": hourly_count(room_start, weight)}
    for name, conc in (
        ("live_rooms", live_rooms),
        ("speakers", speakers),
        ("listeners", listeners),
    ):
        columns[f"{name}_mean"], columns[f"{name}_peak"] = hourly_mean_peak(conc)
    columns["joins"] = joins
    columns["removals"] = hourly_count(removal_time, listener_weight[removal_room])
    blocked_time = np.concatenate([start[blocked], np.asarray(log.blocked_time, dtype=np.float64)])
    blocked_weight = np.concatenate(
        [blocked_session_weight, listener_weight[np.asarray(log.blocked_room, dtype=np.int64)]]
    )
    columns["rejoins_blocked"] = hourly_count(blocked_time, blocked_weight)
    request_room = np.asarray(log.request_room, dtype=np.int64)
    request_time = np.asarray(log.request_time, dtype=np.float64)
    invited = np.asarray(log.request_invited, dtype=np.bool_)
    request_weight = weight[request_room]
    columns["speak_requests"] = hourly_count(request_time, request_weight)
    columns["invites"] = hourly_count(request_time[invited], request_weight[invited])
    columns["declines"] = hourly_count(request_time[~invited], request_weight[~invited])
    columns["host_invites"] = hourly_count(
        np.asarray(log.host_invite_time, dtype=np.float64),
        weight[np.asarray(log.host_invite_room, dtype=np.int64)],
    )
    columns["messages"] = messages
    hourly = pd.DataFrame({"hour": np.arange(24, dtype=np.int64), **columns})

    room_max = np.asarray(log.room_max_speakers, dtype=np.int64)
    session_log = speaker_log = None
    if record_sessions:
        speaker_log = pd.DataFrame(
            {
                "room": speaker_room,
                "listener_id": np.asarray(log.speaker_id, dtype=np.int64),
                "start_min": np.asarray(log.speaker_start, dtype=np.float64),
                "end_min": np.asarray(log.speaker_end, dtype=np.float64),
            }
        )
        is_blocked = np.zeros(len(sess), dtype=np.bool_)
        is_blocked[blocked] = True
        session_log = pd.DataFrame(
            {
                "room": sess.room,
                "listener_id": sess.listener_id,
                "start_min": start,
                "end_min": end,
                "blocked": is_blocked,
            }
        )
    return DayResult(
        hourly=hourly,
        sessions=len(sess),
        events=log.events,
        max_speakers=int(room_max.max()) if n_rooms else 0,
        room_max_speakers=room_max,
        removals=pd.DataFrame(
            {"room": removal_room, "listener_id": removal_id, "time_min": removal_time}
        ),
        per_minute=pd.DataFrame(
            {"live_rooms": live_rooms, "speakers": speakers, "listeners": listeners}
        ),
        peak_rooms=rooms_at_peak(
            listeners,
            room_start,
            room_end,
            weight,
            _listeners_at(sess, top_minute) if kernels.ENABLED
            else (sess.room, start, end, sess.scale),
            (
                speaker_room,
                np.asarray(log.speaker_start, dtype=np.float64),
                np.asarray(log.speaker_end, dtype=np.float64),
            ),
        ),
        session_log=session_log,
        speaker_log=speaker_log,
    )


def _stage_plan(
    sess: Sessions,
    room_start: FloatArray,
    room_end: FloatArray,
    params: RoomParams,
    rng: np.random.Generator,
) -> StagePlan:
    """Pre-draw everything the stage processes need, sorted by (room, time)."""
    n_rooms = int(room_start.shape[0])

    def points(rate_per_min: float | FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
        room, session, time = poisson_points(
            sess.first, sess.start, sess.end, sess.cum, rate_per_min, rng
        )
        # (points come grouped by room, so ``first`` is the same before and after the sort)
        first = np.searchsorted(room, np.arange(n_rooms + 1), side="left").astype(np.int64)
        order = (kernels.by_time_within_rooms(first, time) if kernels.ENABLED
                 else np.lexsort((time, room)))
        room, session, time = room[order], session[order], time[order]
        return first, sess.listener_ids(session, room), time

    # The host hears every real listener's requests: a thinned room's simulated listeners ask
    # at ``scale`` times the rate. Removals are not scaled: a simulated listener removed stands
    # for ``scale`` real ones (their removals and blocked rejoins are weighted up instead).
    req_first, req_id, req_time = points(params.speak_requests_per_listener_hour / 60 * sess.scale)
    n_req = int(req_time.shape[0])
    req_u = rng.random(n_req)
    req_speak = rng.exponential(params.speak_mean_min, n_req)
    rem_first, rem_id, rem_time = points(params.removals_per_listener_hour / 60)
    n_rem = int(rem_time.shape[0])
    rem_u = rng.random(n_rem)
    rem_delay = rng.exponential(params.rejoin_delay_mean_min, n_rem)
    hinv_first, hinv_id, hinv_time = points(_host_invite_rate(sess, room_start, room_end, params))
    hinv_speak = rng.exponential(params.speak_mean_min, int(hinv_time.shape[0]))
    return StagePlan(
        start=room_start,
        end=room_end,
        cohosts=rng.binomial(MAX_COHOSTS, params.cohost_prob, n_rooms),
        initial_speakers=rng.poisson(params.initial_speakers_mean, n_rooms),
        invite_prob=params.invite_prob,
        rejoin_prob=params.rejoin_attempt_prob,
        req_first=req_first,
        req_time=req_time,
        req_id=req_id,
        req_u=req_u,
        req_speak=req_speak,
        rem_first=rem_first,
        rem_time=rem_time,
        rem_id=rem_id,
        rem_u=rem_u,
        rem_delay=rem_delay,
        hinv_first=hinv_first,
        hinv_time=hinv_time,
        hinv_id=hinv_id,
        hinv_speak=hinv_speak,
    )


def _host_invite_rate(
    sess: Sessions, room_start: FloatArray, room_end: FloatArray, params: RoomParams
) -> FloatArray:
    """Per room, the rate per listener-minute that gives ``host_invites_per_room_hour`` over the
    room's life: the invitations fall where people listen, and pick one of them."""
    cum = sess.cum
    listener_time = cum[sess.first[1:]] - cum[sess.first[:-1]]
    per_room = params.host_invites_per_room_hour / 60.0 * (room_end - room_start)
    rate: FloatArray = np.divide(
        per_room, listener_time, out=np.zeros_like(per_room), where=listener_time > 0
    )
    return rate


def _listeners_at(sess: Sessions, top_minute: int) -> Callable[[int, IntArray], FloatArray]:
    """Per room, its listeners at a whole minute (full scale), for ``rooms_at_peak``; only the
    rooms live then are counted (no other room has a session covering that minute)."""

    def at(minute: int, live: IntArray) -> FloatArray:
        counts = kernels.covering_counts(sess.first, sess.start, sess.end, minute, top_minute,
                                         live)
        listeners: FloatArray = counts * sess.scale
        return listeners

    return at


def _apply_removals(
    sess: Sessions, room: IntArray, listener: IntArray, time: FloatArray
) -> tuple[IntArray, FloatArray]:
    """End each removed listener's sessions at the removal; later ones are blocked (end at
    their start). Changes ``sess.end`` and ``sess.cum`` in place; returns the blocked sessions
    (in order) and the listener-time offsets of the cut sessions.

    A listener's visits are consecutive sessions, so only those are touched; the offsets are
    recomputed from the first changed session on (a cumulative sum is sequential, so the
    result is exactly ``listener_time_offsets`` of the cut sessions).
    """
    lo, hi = sess.sessions_of(listener, room)
    length = hi - lo
    index = np.repeat(lo - np.cumsum(length) + length, length) + np.arange(int(length.sum()))
    cut = np.repeat(time, length)
    start, end = sess.start, sess.end
    before = end[index]
    is_blocked = start[index] >= cut
    end[index] = np.where(is_blocked, start[index], np.minimum(before, cut))
    changed = index[end[index] != before]
    cum = sess.cum  # (the stage plan, its only other user, is drawn already)
    if changed.shape[0]:
        k = int(changed.min())
        if kernels.ENABLED:
            kernels.recumulate(start, end, cum, k)
        else:
            np.subtract(end[k:], start[k:], out=cum[k + 1 :])
            np.cumsum(cum[k:], out=cum[k:])
    return np.sort(index[is_blocked]), cum

"""The event-by-event part of a room: the stage (13 seats) and moderation, in SimPy.

One ``simpy.Environment`` per simulated day, time in minutes. A hosts process opens the rooms
at their start times; every room with anything to happen on its stage (requests to speak, the
host's own invitations, removals) is then a SimPy process of its own, which sleeps until the
host's next act and does it: taking a request (the listener takes a seat), seating an invitee,
removing a listener.

At its start a room seats the host, its co-hosts (at most 2) and the speakers the host brings
(at most 10). Requests to speak arrive (pre-drawn Poisson points on the room's listener-time,
see ``room_sessions``) and the host invites the requester (they take a seat and speak until
their time is up or the room ends) or declines (by choice, or because the stage is full or
already has 10 speakers besides host and co-hosts). The stage has 13 seats; a seat is only
given when one is free, so the room never holds more. Hosts also invite listeners on their own
(pre-drawn points at a rate per live room-hour, placed on the room's listener-time so the
invitee is someone listening then): the invitee is seated when a speaker seat is free, and
nobody is invited otherwise. Removals (pre-drawn points) record the listener as removed, take
them off the stage if they are speaking, and block their rejoin attempt (if any).

A room process does not wake for what changes nothing the host sees: between two acts of the
host the stage only loses speakers, at their times, and every request is declined unless the
host would take it (its uniform draw is below ``invite_prob``) and a seat is free. So a room
walks only the requests the host would take, its invitations and its speakers' exits, sleeps
until the next act and does it; speakers who stepped down meanwhile are logged at the wake-up
with their own times. Requests not taken are declines, worked out for the whole day at the end
(a request whose sender was removed before it, or was on stage at the time, is no request), with
exactly the outcome of waking for each. ``StagePlan.batch_declines=False`` wakes for every request
and every host invitation instead (the tests check both give the same log). A room's process
ends at its last event; nothing waits on it, so closing needs no event of its own.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from math import nextafter
from typing import Any

import numpy as np
import simpy
from numpy.typing import NDArray
from simpy.events import Timeout

from sim import room_kernels as kernels
from sim import stage_kernel
from sim.rules.rooms import MAX_COHOSTS, MAX_SPEAKERS, STAGE_CAPACITY

Proc = Generator[Any, Any, None]
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass
class StagePlan:
    """Per-room inputs of the stage simulation; per-room arrays are sliced by the offsets."""

    start: FloatArray
    end: FloatArray
    cohosts: IntArray
    initial_speakers: IntArray
    invite_prob: float
    rejoin_prob: float
    # requests to speak, sorted by (room, time); room r owns req_first[r]:req_first[r+1]
    req_first: IntArray
    req_time: FloatArray
    req_id: IntArray
    req_u: FloatArray  # uniform: invite if < invite_prob
    req_speak: FloatArray  # speaking time if invited
    # removal candidates, sorted by (room, time)
    rem_first: IntArray
    rem_time: FloatArray
    rem_id: IntArray
    rem_u: FloatArray  # uniform: tries to rejoin if < rejoin_prob
    rem_delay: FloatArray  # delay of the rejoin attempt
    # the host's own invitations, sorted by (room, time)
    hinv_first: IntArray
    hinv_time: FloatArray
    hinv_id: IntArray
    hinv_speak: FloatArray  # speaking time if seated
    #: Decline requests in one go between wake-ups (exact; False wakes for each, for tests).
    batch_declines: bool = True


@dataclass
class StageLog:
    """What happened on stage, as flat lists or arrays (the caller makes arrays of them)."""

    speaker_room: list[int] = field(default_factory=list)
    speaker_start: list[float] = field(default_factory=list)
    speaker_end: list[float] = field(default_factory=list)
    speaker_id: list[int] = field(default_factory=list)  # listener id; -1 if seated at the start
    # every request to speak, by (room, time); filled in at the end of the day
    request_room: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    request_time: FloatArray = field(default_factory=lambda: np.empty(0))
    request_invited: BoolArray = field(default_factory=lambda: np.empty(0, dtype=np.bool_))
    host_invite_room: list[int] = field(default_factory=list)
    host_invite_time: list[float] = field(default_factory=list)
    removal_room: list[int] = field(default_factory=list)
    removal_id: list[int] = field(default_factory=list)
    removal_time: list[float] = field(default_factory=list)
    blocked_room: list[int] = field(default_factory=list)
    blocked_time: list[float] = field(default_factory=list)
    room_max_speakers: list[int] = field(default_factory=list)
    events: int = 0


@dataclass
class _Walk:
    """The plan as the room processes read it: Python lists (fast to index one by one), and of
    the requests only those a room walks: the ones the host would take if a seat were free
    (every request with ``batch_declines`` off). ``taken`` collects the requests taken."""

    start: list[float]
    end: list[float]
    cohosts: list[int]
    initial_speakers: list[int]
    req: list[int]  # index into the plan's requests
    req_first: list[int]  # room r walks req[req_first[r]:req_first[r+1]]
    req_time: list[float]
    req_id: list[int]
    req_u: list[float]
    req_speak: list[float]
    rem_first: list[int]
    rem_time: list[float]
    rem_id: list[int]
    rem_u: list[float]
    rem_delay: list[float]
    hinv_first: list[int]
    hinv_time: list[float]
    hinv_id: list[int]
    hinv_speak: list[float]
    taken: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, plan: StagePlan) -> _Walk:
        u = np.asarray(plan.req_u, dtype=np.float64)
        req = np.flatnonzero(u < plan.invite_prob) if plan.batch_declines else np.arange(len(u))
        return cls(
            start=np.asarray(plan.start, dtype=np.float64).tolist(),
            end=np.asarray(plan.end, dtype=np.float64).tolist(),
            cohosts=np.asarray(plan.cohosts).tolist(),
            initial_speakers=np.asarray(plan.initial_speakers).tolist(),
            req=req.tolist(),
            req_first=np.searchsorted(req, np.asarray(plan.req_first)).tolist(),
            req_time=np.asarray(plan.req_time, dtype=np.float64)[req].tolist(),
            req_id=np.asarray(plan.req_id)[req].tolist(),
            req_u=u[req].tolist(),
            req_speak=np.asarray(plan.req_speak, dtype=np.float64)[req].tolist(),
            rem_first=np.asarray(plan.rem_first).tolist(),
            rem_time=np.asarray(plan.rem_time, dtype=np.float64).tolist(),
            rem_id=np.asarray(plan.rem_id).tolist(),
            rem_u=np.asarray(plan.rem_u, dtype=np.float64).tolist(),
            rem_delay=np.asarray(plan.rem_delay, dtype=np.float64).tolist(),
            hinv_first=np.asarray(plan.hinv_first).tolist(),
            hinv_time=np.asarray(plan.hinv_time, dtype=np.float64).tolist(),
            hinv_id=np.asarray(plan.hinv_id).tolist(),
            hinv_speak=np.asarray(plan.hinv_speak, dtype=np.float64).tolist(),
        )


def run_stage(plan: StagePlan) -> StageLog:
    """Simulate every room's stage and moderation for one day; returns the log."""
    if kernels.ENABLED:
        return _run_compiled(plan)
    env = simpy.Environment()
    walk = _Walk.of(plan)
    log = StageLog(room_max_speakers=[0] * len(walk.start))
    env.process(_hosts(env, walk, plan, log))
    events = 0
    step = env.step
    try:
        while True:
            step()
            events += 1
    except simpy.core.EmptySchedule:
        pass
    log.events = events
    _log_requests(plan, log, walk.taken)
    return log


def _run_compiled(plan: StagePlan) -> StageLog:
    """``run_stage`` with the same processes and events, each wake-up's work compiled
    (``sim.stage_kernel``): the same log, in the same order."""
    u = np.asarray(plan.req_u, dtype=np.float64)
    req = np.flatnonzero(u < plan.invite_prob) if plan.batch_declines else np.arange(len(u))
    req_first = np.searchsorted(req, np.asarray(plan.req_first)).astype(np.int64)
    rem_first = np.asarray(plan.rem_first, dtype=np.int64)
    hinv_first = np.asarray(plan.hinv_first, dtype=np.int64)
    start = np.asarray(plan.start, dtype=np.float64)
    packed = stage_kernel.pack(
        start, np.asarray(plan.end, dtype=np.float64),
        np.asarray(plan.cohosts, dtype=np.int64),
        np.asarray(plan.initial_speakers, dtype=np.int64),
        plan.invite_prob, plan.rejoin_prob, plan.batch_declines, req.astype(np.int64),
        req_first, np.asarray(plan.req_time, dtype=np.float64)[req],
        np.asarray(plan.req_id, dtype=np.int64)[req], u[req],
        np.asarray(plan.req_speak, dtype=np.float64)[req],
        rem_first, np.asarray(plan.rem_time, dtype=np.float64),
        np.asarray(plan.rem_id, dtype=np.int64), np.asarray(plan.rem_u, dtype=np.float64),
        np.asarray(plan.rem_delay, dtype=np.float64),
        hinv_first, np.asarray(plan.hinv_time, dtype=np.float64),
        np.asarray(plan.hinv_id, dtype=np.int64), np.asarray(plan.hinv_speak, dtype=np.float64),
    )
    busy = (np.diff(req_first) + np.diff(rem_first) + np.diff(hinv_first)) > 0
    env = simpy.Environment()
    env.process(_hosts_compiled(env, start, busy, packed))
    events = 0
    step = env.step
    try:
        while True:
            step()
            events += 1
    except simpy.core.EmptySchedule:
        pass
    spk = packed.i(stage_kernel.I_COUNT)
    n_spk, n_rem, n_blk, n_hinv, n_taken = (
        int(spk[c]) for c in (stage_kernel.C_SPK, stage_kernel.C_REM, stage_kernel.C_BLK,
                              stage_kernel.C_HINV, stage_kernel.C_TAKEN)
    )
    log = StageLog(
        speaker_room=packed.i(stage_kernel.I_LOG_SPK_ROOM)[:n_spk].tolist(),
        speaker_start=packed.f(stage_kernel.F_LOG_SPK_START)[:n_spk].tolist(),
        speaker_end=packed.f(stage_kernel.F_LOG_SPK_END)[:n_spk].tolist(),
        speaker_id=packed.i(stage_kernel.I_LOG_SPK_ID)[:n_spk].tolist(),
        host_invite_room=packed.i(stage_kernel.I_LOG_HINV_ROOM)[:n_hinv].tolist(),
        host_invite_time=packed.f(stage_kernel.F_LOG_HINV_T)[:n_hinv].tolist(),
        removal_room=packed.i(stage_kernel.I_LOG_REM_ROOM)[:n_rem].tolist(),
        removal_id=packed.i(stage_kernel.I_LOG_REM_ID)[:n_rem].tolist(),
        removal_time=packed.f(stage_kernel.F_LOG_REM_T)[:n_rem].tolist(),
        blocked_room=packed.i(stage_kernel.I_LOG_BLK_ROOM)[:n_blk].tolist(),
        blocked_time=packed.f(stage_kernel.F_LOG_BLK_T)[:n_blk].tolist(),
        room_max_speakers=packed.i(stage_kernel.I_ROOM_MAX).tolist(),
        events=events,
    )
    _log_requests(plan, log, packed.i(stage_kernel.I_LOG_TAKEN)[:n_taken].tolist())
    return log


def _hosts_compiled(env: simpy.Environment, start: FloatArray, busy: BoolArray,
                    packed: stage_kernel.PackedStage) -> Proc:
    """``_hosts`` opening the rooms with the compiled stage."""
    buffer = packed.buffer
    open_room, wake = stage_kernel.entry_points()
    starts = start.tolist()
    is_busy = busy.tolist()
    process = env.process
    for r in np.argsort(start, kind="stable").tolist():
        at = starts[r]
        now = env.now
        if at > now:
            yield Timeout(env, at - now)
        open_room(buffer, r)
        if is_busy[r]:
            process(_room_compiled(env, r, buffer, wake))


def _room_compiled(env: simpy.Environment, r: int, buffer: IntArray,
                   wake: Callable[[IntArray, int, float], float]) -> Proc:
    """Room ``r``'s process: sleeps until the host's next act; each wake-up's work (log who
    stepped down, do the act, walk to the next) is ``stage_kernel.room_wake``.

    (``Timeout(env, d)`` is ``env.timeout(d)`` without the bound method's indirection: the
    same event, scheduled at ``now + d``; a room wakes ~500k times a replication.)"""
    now = env.now
    until = wake(buffer, r, now)
    while until >= 0.0:
        yield Timeout(env, until - now)
        now = env.now
        until = wake(buffer, r, now)


def _hosts(env: simpy.Environment, walk: _Walk, plan: StagePlan, log: StageLog) -> Proc:
    """Hosts start their rooms through the day, in order of start time (the diurnal cycle)."""
    order = sorted(range(len(walk.start)), key=walk.start.__getitem__)
    busy = (walk.req_first, walk.rem_first, walk.hinv_first)
    for r in order:
        start = walk.start[r]
        if start > env.now:
            yield env.timeout(start - env.now)
        invited = _open(r, walk, log)
        if any(first[r + 1] > first[r] for first in busy):
            env.process(_room(env, r, walk, plan, log, invited))


def _open(r: int, walk: _Walk, log: StageLog) -> int:
    """Open room ``r`` now: seat the host, co-hosts and opening speakers (held to the end).

    Returns the opening speakers (besides host and co-hosts).
    """
    start, end = walk.start[r], walk.end[r]
    cohosts = min(walk.cohosts[r], MAX_COHOSTS)
    invited = min(walk.initial_speakers[r], MAX_SPEAKERS, STAGE_CAPACITY - 1 - cohosts)
    seated = 1 + cohosts + invited
    log.room_max_speakers[r] = seated
    log.speaker_room.extend([r] * seated)
    log.speaker_start.extend([start] * seated)
    log.speaker_end.extend([end] * seated)
    log.speaker_id.extend([-1] * seated)
    return invited


def _room(
    env: simpy.Environment, r: int, walk: _Walk, plan: StagePlan, log: StageLog, invited: int
) -> Proc:
    """Room ``r`` from its opening to its last event (see the module docstring).

    The process walks the requests the host would take, the host's invitations and the
    speakers' exits in time order up to the next thing the host does (take a request, seat an
    invitee, remove someone), sleeps until then and does it.
    """
    end = walk.end[r]
    level = 1 + min(walk.cohosts[r], MAX_COHOSTS) + invited  # seats taken
    top = level
    invite_prob, rejoin_prob, batch = plan.invite_prob, plan.rejoin_prob, plan.batch_declines
    rq_t, rq_id, rq_u, rq_speak = walk.req_time, walk.req_id, walk.req_u, walk.req_speak
    rm_t, rm_id, rm_u, rm_delay = walk.rem_time, walk.rem_id, walk.rem_u, walk.rem_delay
    hv_t, hv_id, hv_speak = walk.hinv_time, walk.hinv_id, walk.hinv_speak
    i, i_hi = walk.req_first[r], walk.req_first[r + 1]
    j, j_hi = walk.rem_first[r], walk.rem_first[r + 1]
    h, h_hi = walk.hinv_first[r], walk.hinv_first[r + 1]
    removed: set[int] = set()
    speaking: dict[int, float] = {}  # listener id -> time they step down
    began: dict[int, float] = {}
    leaving: list[tuple[float, int]] = []  # heap of (time, listener id); stale once removed
    stepped: list[tuple[int, float, float]] = []  # (listener id, on, off) since the last wake-up
    inf = math.inf
    pop, push = heapq.heappop, heapq.heappush

    while True:
        while j < j_hi and rm_id[j] in removed:
            j += 1  # already out of the room: nothing happens
        t_remove = rm_t[j] if j < j_hi else inf
        # Walk to the host's next act; at equal times: exits, removal, request, invitation.
        act = _NOTHING
        while True:
            t_invite = hv_t[h] if h < h_hi else inf
            t_leave = leaving[0][0] if leaving else inf
            bound = t_leave if t_leave < t_remove else t_remove
            # Requests strictly before the next exit or removal, and at or before the next
            # invitation, come first.
            cut = bound if bound <= t_invite else nextafter(t_invite, inf)
            if batch and (invited >= MAX_SPEAKERS or level >= STAGE_CAPACITY):
                while i < i_hi and rq_t[i] < cut:
                    i += 1  # a full stage: declined
            else:
                while i < i_hi and rq_t[i] < cut:
                    if rq_id[i] in removed or rq_id[i] in speaking:
                        i += 1  # gone, or on stage: not a request
                        continue
                    act, now = _REQUEST, rq_t[i]
                    break
                if act:
                    break
            now = t_invite if t_invite < bound else bound
            if now == inf:
                break
            if t_leave == now:
                until, uid = pop(leaving)
                if speaking.get(uid) == until:  # (else removed while speaking: already off)
                    del speaking[uid]
                    level, invited = level - 1, invited - 1
                    stepped.append((uid, began.pop(uid), until))
                continue
            if t_remove == now:
                act = _REMOVAL
                break
            if batch and (
                invited >= MAX_SPEAKERS
                or level >= STAGE_CAPACITY
                or hv_id[h] in removed
                or hv_id[h] in speaking
            ):
                h += 1  # no free seat, or the invitee is gone or on stage: nobody invited
                continue
            act = _INVITATION
            break
        if act == _NOTHING:
            if not stepped:
                break
            now = stepped[-1][2]
        if now > env.now:
            yield env.timeout(now - env.now)
        for uid, on, off in stepped:
            _step_down(log, r, uid, on, off)
        stepped.clear()
        if act == _NOTHING:
            break
        free = invited < MAX_SPEAKERS and level < STAGE_CAPACITY
        if act == _REMOVAL:
            uid = rm_id[j]
            removed.add(uid)
            log.removal_room.append(r)
            log.removal_id.append(uid)
            log.removal_time.append(now)
            if uid in speaking:  # removed while speaking: off the stage at once
                del speaking[uid]
                level, invited = level - 1, invited - 1
                _step_down(log, r, uid, began.pop(uid), now)
            if rm_u[j] < rejoin_prob and now + rm_delay[j] < end:
                log.blocked_room.append(r)
                log.blocked_time.append(now + rm_delay[j])
            j += 1
            continue
        if act == _REQUEST:
            uid, speak = rq_id[i], rq_speak[i]
            accept = free and rq_u[i] < invite_prob
            if accept:
                walk.taken.append(walk.req[i])
            i += 1
        else:
            uid, speak = hv_id[h], hv_speak[h]
            accept = free and uid not in removed and uid not in speaking
            h += 1
            if accept:
                log.host_invite_room.append(r)
                log.host_invite_time.append(now)
        if accept:
            level, invited = level + 1, invited + 1
            top = max(top, level)
            speaking[uid] = until = min(now + speak, end)
            began[uid] = now
            push(leaving, (until, uid))
    log.room_max_speakers[r] = top


_NOTHING, _REMOVAL, _REQUEST, _INVITATION = range(4)


def _step_down(log: StageLog, r: int, uid: int, began: float, now: float) -> None:
    log.speaker_room.append(r)
    log.speaker_start.append(began)
    log.speaker_end.append(now)
    log.speaker_id.append(uid)


def _log_requests(plan: StagePlan, log: StageLog, taken: list[int]) -> None:
    """Every request of the day, taken (the listener spoke) or declined, in (room, time) order.

    A request is none if its sender was removed before it (or at its time), or was on stage
    then (an invited speaker seated before it who had not stepped down): the room processes
    skip exactly those.
    """
    time = np.asarray(plan.req_time, dtype=np.float64)
    uid = np.asarray(plan.req_id, dtype=np.int64)
    room = np.repeat(np.arange(len(plan.start), dtype=np.int64), np.diff(plan.req_first))
    gone = np.asarray(log.removal_id, dtype=np.int64)
    order = np.argsort(gone)
    gone, at = gone[order], np.asarray(log.removal_time, dtype=np.float64)[order]
    who = np.asarray(log.speaker_id, dtype=np.int64)
    stint = np.flatnonzero(who >= 0)
    stint = stint[np.argsort(who[stint], kind="stable")]
    who = who[stint]
    on = np.asarray(log.speaker_start, dtype=np.float64)[stint]
    off = np.asarray(log.speaker_end, dtype=np.float64)[stint]
    if kernels.ENABLED:
        real = stage_kernel.real_requests(time, uid, gone, at, who, on, off)
    else:
        real = np.ones(time.shape[0], dtype=np.bool_)
        if gone.shape[0]:
            pos = np.minimum(np.searchsorted(gone, uid), gone.shape[0] - 1)
            real &= ~((gone[pos] == uid) & (at[pos] <= time))
        if who.shape[0] and time.shape[0]:
            lo = np.searchsorted(who, uid, side="left")
            many = np.searchsorted(who, uid, side="right") - lo
            for k in range(int(many.max())):
                ask = np.flatnonzero(many > k)
                seat = lo[ask] + k
                real[ask[(on[seat] < time[ask]) & (time[ask] < off[seat])]] = False
    invited = np.zeros(time.shape[0], dtype=np.bool_)
    invited[np.asarray(taken, dtype=np.int64)] = True
    log.request_room = room[real]
    log.request_time = time[real]
    log.request_invited = invited[real]

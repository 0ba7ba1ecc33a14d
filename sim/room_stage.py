"""The event-by-event part of a room: the stage (13 seats) and moderation, in SimPy.

One ``simpy.Environment`` per simulated day, time in minutes. A hosts process opens the rooms
at their start times; every room with anything to happen on its stage (requests to speak, the
host's own invitations, removals) is then a SimPy process of its own, which sleeps until the
next moment its stage changes and handles that event: a listener taking a seat, a speaker
stepping down, a listener being removed.

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

The room process does not wake for requests that change nothing: between two stage events the
stage is fixed, so every request before the next acceptable one is a decline (or not a request:
its sender was removed, or is on stage), and those are settled in one go at the next wake-up,
with exactly the outcome of waking for each. ``StagePlan.batch_declines=False`` wakes for every
request and every host invitation instead (the tests check both give the same log). The room
is closed at its last event; nothing waits on it, so closing needs no event of its own.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Generator
from dataclasses import dataclass, field
from math import nextafter
from typing import Any

import simpy

from sim.rules.rooms import MAX_COHOSTS, MAX_SPEAKERS, STAGE_CAPACITY

Proc = Generator[Any, Any, None]


@dataclass
class StagePlan:
    """Per-room inputs of the stage simulation; per-room lists are sliced by the offsets."""

    start: list[float]
    end: list[float]
    cohosts: list[int]
    initial_speakers: list[int]
    invite_prob: float
    rejoin_prob: float
    # requests to speak, sorted by (room, time); room r owns req_first[r]:req_first[r+1]
    req_first: list[int]
    req_time: list[float]
    req_id: list[int]
    req_u: list[float]  # uniform: invite if < invite_prob
    req_speak: list[float]  # speaking time if invited
    # removal candidates, sorted by (room, time)
    rem_first: list[int]
    rem_time: list[float]
    rem_id: list[int]
    rem_u: list[float]  # uniform: tries to rejoin if < rejoin_prob
    rem_delay: list[float]  # delay of the rejoin attempt
    # the host's own invitations, sorted by (room, time)
    hinv_first: list[int]
    hinv_time: list[float]
    hinv_id: list[int]
    hinv_speak: list[float]  # speaking time if seated
    #: Decline requests in one go between wake-ups (exact; False wakes for each, for tests).
    batch_declines: bool = True


@dataclass
class StageLog:
    """What happened on stage, as flat lists (turned into arrays by the caller)."""

    speaker_room: list[int] = field(default_factory=list)
    speaker_start: list[float] = field(default_factory=list)
    speaker_end: list[float] = field(default_factory=list)
    speaker_id: list[int] = field(default_factory=list)  # listener id; -1 if seated at the start
    request_room: list[int] = field(default_factory=list)
    request_time: list[float] = field(default_factory=list)
    request_invited: list[bool] = field(default_factory=list)
    host_invite_room: list[int] = field(default_factory=list)
    host_invite_time: list[float] = field(default_factory=list)
    removal_room: list[int] = field(default_factory=list)
    removal_id: list[int] = field(default_factory=list)
    removal_time: list[float] = field(default_factory=list)
    blocked_room: list[int] = field(default_factory=list)
    blocked_time: list[float] = field(default_factory=list)
    room_max_speakers: list[int] = field(default_factory=list)
    events: int = 0


def run_stage(plan: StagePlan) -> StageLog:
    """Simulate every room's stage and moderation for one day; returns the log."""
    env = simpy.Environment()
    n_rooms = len(plan.start)
    log = StageLog(room_max_speakers=[0] * n_rooms)
    env.process(_hosts(env, plan, log))
    events = 0
    step = env.step
    try:
        while True:
            step()
            events += 1
    except simpy.core.EmptySchedule:
        pass
    log.events = events
    return log


def _hosts(env: simpy.Environment, plan: StagePlan, log: StageLog) -> Proc:
    """Hosts start their rooms through the day, in order of start time (the diurnal cycle)."""
    order = sorted(range(len(plan.start)), key=plan.start.__getitem__)
    for r in order:
        start = plan.start[r]
        if start > env.now:
            yield env.timeout(start - env.now)
        invited = _open(r, plan, log)
        if (
            plan.req_first[r + 1] > plan.req_first[r]
            or plan.rem_first[r + 1] > plan.rem_first[r]
            or plan.hinv_first[r + 1] > plan.hinv_first[r]
        ):
            env.process(_room(env, r, plan, log, invited))


def _open(r: int, plan: StagePlan, log: StageLog) -> int:
    """Open room ``r`` now: seat the host, co-hosts and opening speakers (held to the end).

    Returns the opening speakers (besides host and co-hosts).
    """
    start, end = plan.start[r], plan.end[r]
    cohosts = min(plan.cohosts[r], MAX_COHOSTS)
    invited = min(plan.initial_speakers[r], MAX_SPEAKERS, STAGE_CAPACITY - 1 - cohosts)
    seated = 1 + cohosts + invited
    log.room_max_speakers[r] = seated
    log.speaker_room.extend([r] * seated)
    log.speaker_start.extend([start] * seated)
    log.speaker_end.extend([end] * seated)
    log.speaker_id.extend([-1] * seated)
    return invited


def _room(
    env: simpy.Environment,
    r: int,
    plan: StagePlan,
    log: StageLog,
    invited: int,
) -> Proc:
    """Room ``r`` from its opening to its last event (see the module docstring).

    The process walks the room's requests, host invitations and speakers' exits in time order
    up to the next thing the host does (accept a request, seat an invitee, remove someone),
    sleeps until then and does it. What it walked past changed nothing the host sees but the
    free seats: requests declined, invitations skipped, speakers stepping down at their times;
    those are logged at the wake-up.
    """
    end = plan.end[r]
    level = 1 + min(plan.cohosts[r], MAX_COHOSTS) + invited  # seats taken
    top = level
    invite_prob, rejoin_prob, batch = plan.invite_prob, plan.rejoin_prob, plan.batch_declines
    rq_t, rq_id, rq_u, rq_speak = plan.req_time, plan.req_id, plan.req_u, plan.req_speak
    rm_t, rm_id, rm_u, rm_delay = plan.rem_time, plan.rem_id, plan.rem_u, plan.rem_delay
    hv_t, hv_id, hv_speak = plan.hinv_time, plan.hinv_id, plan.hinv_speak
    i, i_hi = plan.req_first[r], plan.req_first[r + 1]
    j, j_hi = plan.rem_first[r], plan.rem_first[r + 1]
    h, h_hi = plan.hinv_first[r], plan.hinv_first[r + 1]
    removed: set[int] = set()
    speaking: dict[int, float] = {}  # listener id -> time they step down
    began: dict[int, float] = {}
    leaving: list[tuple[float, int]] = []  # heap of (time, listener id); stale once removed
    declined: list[float] = []  # since the last wake-up
    stepped: list[tuple[int, float, float]] = []  # (listener id, on, off) since the last one
    last = env.now  # time of the latest thing walked past
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
            start = i
            if batch and (invited >= MAX_SPEAKERS or level >= STAGE_CAPACITY):
                while i < i_hi:  # a full stage: declined (unless gone or on stage: no request)
                    t = rq_t[i]
                    if t >= cut:
                        break
                    uid = rq_id[i]
                    if uid not in removed and uid not in speaking:
                        declined.append(t)
                    i += 1
            else:
                while i < i_hi:
                    t = rq_t[i]
                    if t >= cut:
                        break
                    uid = rq_id[i]
                    if uid in removed or uid in speaking:
                        i += 1  # gone, or on stage: not a request
                    elif batch and rq_u[i] >= invite_prob:
                        declined.append(t)
                        i += 1
                    else:
                        act, now = _REQUEST, t
                        break
            if i > start:
                last = rq_t[i - 1]
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
                    last = until
                continue
            if t_remove == now:
                act = _REMOVAL
                break
            uid = hv_id[h]
            if batch and (
                invited >= MAX_SPEAKERS
                or level >= STAGE_CAPACITY
                or uid in removed
                or uid in speaking
            ):
                last, h = now, h + 1  # no free seat, or the invitee is gone or on stage
                continue
            act = _INVITATION
            break
        if act == _NOTHING:
            now = last
        if now > env.now:
            yield env.timeout(now - env.now)
        if declined:
            log.request_room.extend([r] * len(declined))
            log.request_time.extend(declined)
            log.request_invited.extend([False] * len(declined))
            declined.clear()
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
            i += 1
            log.request_room.append(r)
            log.request_time.append(now)
            log.request_invited.append(accept)
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

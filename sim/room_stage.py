"""The event-by-event part of a room: the stage (a SimPy resource of 13 slots) and moderation.

One ``simpy.Environment`` per simulated day, time in minutes. A hosts process opens the rooms
at their start times; a room with requests to speak runs a request process, one with removals
a moderation process. The stage is a ``simpy.Container`` of 13 interchangeable slots (its
level = speakers on stage): a put waits while it would overflow the container, so SimPy itself
guarantees the cap; we only put when the slots are free, so a put is granted on the spot and
nobody queues. (A ``simpy.Resource`` would do the same with one Request per speaker; the
container seats the host, co-hosts and opening speakers in one event, which is faster.)

At its start a room seats the host, its co-hosts (at most 2) and the speakers the host brings
(at most 10). Requests to speak arrive (pre-drawn Poisson points on the room's listener-time,
see ``room_sessions``) and the host invites the requester (one slot is put, and the listener
speaks in a process of their own, then gets the slot back out) or declines (by choice, or
because the stage is full or already has 10 speakers). The request process wakes only when a
request could change the stage; requests that cannot (the host would turn them down, or the
stage is full) are declined in one go at the next wake-up, with exactly the outcome of waking
for each (see ``_requests``; a test checks both ways agree). A moderation process per room removes
listeners at the pre-drawn removal points: the listener's id is recorded as removed, a
speaking listener is interrupted off the stage, and a rejoin attempt (if any) is blocked.
Hosts also invite listeners on their own (pre-drawn points at a rate per live room-hour, placed
on the room's listener-time so the invitee is someone listening then): an invitation process
seats the invitee when a speaker seat is free and skips the invitation otherwise. Every stint on
stage is kept (``_Room.stints``), so a batched decline still knows exactly who was on stage at
its time although host invitations seat people between the request process's wake-ups.
When the room ends, its stage is discarded with the host, co-hosts and opening speakers
(nothing waits on a room's end, so closing needs no event).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
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


class _Room:
    """Mutable state of one live room."""

    __slots__ = (
        "end",
        "freed",
        "index",
        "invited",
        "log",
        "removed",
        "speaking",
        "stage",
        "stints",
    )

    def __init__(self, env: simpy.Environment, index: int, end: float, log: StageLog) -> None:
        self.index = index
        self.end = end
        self.log = log
        self.stage = simpy.Container(env, capacity=STAGE_CAPACITY, init=0)
        self.speaking: dict[int, simpy.Process] = {}  # listener id -> their speaking process
        self.invited = 0  # speakers on stage other than host and co-hosts (at most 10)
        self.removed: dict[int, float] = {}  # listener id -> time of removal
        self.freed: simpy.Event | None = None  # succeeds when a speaker leaves a full stage
        # listener id -> their times on stage, flat: join, leave, join, ... (open while speaking)
        self.stints: dict[int, list[float]] = {}

    def on_stage_at(self, uid: int, t: float) -> bool:
        """Whether listener ``uid`` held a stage seat at time ``t`` (<= now)."""
        times = self.stints.get(uid)
        if not times:
            return False
        for k in range(0, len(times), 2):
            if times[k] <= t and (k + 1 == len(times) or times[k + 1] > t):
                return True
        return False

    def has_free_speaker_seat(self) -> bool:
        return self.invited < MAX_SPEAKERS and self.stage.level < STAGE_CAPACITY

    def invite(self, env: simpy.Environment, uid: int, until: float) -> None:
        """Seat listener ``uid`` now (a speaker seat is free) until ``until`` or the room's end."""
        self.seat(1)
        self.invited += 1
        self.stints.setdefault(uid, []).append(env.now)
        self.speaking[uid] = env.process(_speak(env, self, uid, until))

    def seat(self, slots: int) -> None:
        """Put ``slots`` on stage; only called when they are free, so it is granted at once."""
        self.stage.put(slots)
        level = int(self.stage.level)
        log = self.log
        if level > log.room_max_speakers[self.index]:
            log.room_max_speakers[self.index] = level


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
        room = _open(env, r, plan, log)
        if plan.req_first[r + 1] > plan.req_first[r]:
            env.process(_requests(env, room, plan))
        lo, hi = plan.rem_first[r], plan.rem_first[r + 1]
        if hi > lo:
            env.process(_moderate(env, room, plan, lo, hi))
        lo, hi = plan.hinv_first[r], plan.hinv_first[r + 1]
        if hi > lo:
            env.process(_host_invitations(env, room, plan, lo, hi))


def _open(env: simpy.Environment, r: int, plan: StagePlan, log: StageLog) -> _Room:
    """Open room ``r`` now: seat the host, co-hosts and opening speakers in one put.

    Nothing waits on the room's end, so closing it needs no event: those seats are held to the
    end and the stage is discarded with them (invited speakers give their slots back before).
    """
    start, end = plan.start[r], plan.end[r]
    room = _Room(env, r, end, log)
    cohosts = min(plan.cohosts[r], MAX_COHOSTS)
    room.invited = min(plan.initial_speakers[r], MAX_SPEAKERS, STAGE_CAPACITY - 1 - cohosts)
    seated = 1 + cohosts + room.invited
    room.seat(seated)
    log.speaker_room.extend([r] * seated)
    log.speaker_start.extend([start] * seated)
    log.speaker_end.extend([end] * seated)
    log.speaker_id.extend([-1] * seated)
    return room


def _requests(env: simpy.Environment, room: _Room, plan: StagePlan) -> Proc:
    """Requests to speak in one room; the host invites or declines each.

    The process only wakes when a request could change the stage: a request the host would
    accept (drawn ``u < invite_prob``) while the stage has room. A request the host would turn
    down, and any request while the stage is full, is declined without changing anything, so
    those are declined in one go when the process next wakes (at the next acceptable request,
    when a speaker leaves a full stage, or at the last request). Their outcome is still exact:
    removals up to that moment are known with their times, and who was on stage at each
    request's time follows from every stint on stage (``_Room.stints``, which also covers the
    host's own invitations between wake-ups); requests declined in a batch are ones the host
    turns down whatever the stage, or came while it was full (a full stage takes nobody new
    until a speaker leaves, which wakes the process). ``batch_declines=False`` wakes for every
    request, and the tests check both give the same log; in a big room this saves thousands of
    events an hour.
    """
    r, log = room.index, room.log
    invite_prob = plan.invite_prob
    req_time, req_id, req_u, req_speak = plan.req_time, plan.req_id, plan.req_u, plan.req_speak
    removed, speaking = room.removed, room.speaking
    rooms, times, invited = log.request_room, log.request_time, log.request_invited
    i, hi = plan.req_first[r], plan.req_first[r + 1]
    last, batch = req_time[hi - 1], plan.batch_declines
    while i < hi:
        if batch and last > env.now:
            if not room.has_free_speaker_seat():
                # Full stage: sleep until a slot frees or the last request is due.
                room.freed = env.event()
                yield room.freed | env.timeout(last - env.now)
                room.freed = None
            else:
                # Sleep until the next request the host would accept (or the last one).
                j = i
                while j < hi and req_u[j] >= invite_prob:
                    j += 1
                target = req_time[j] if j < hi else last
                if target > env.now:
                    yield env.timeout(target - env.now)
            # Decline what came in meanwhile; requests due right now go one by one below.
            now = env.now
            while i < hi and req_time[i] < now:
                t, uid = req_time[i], req_id[i]
                i += 1
                if removed.get(uid, math.inf) <= t:
                    continue  # no longer present: not a request
                if room.on_stage_at(uid, t):
                    continue  # on stage at the time: not a request
                rooms.append(r)
                times.append(t)
                invited.append(False)
            if i >= hi:
                break
            if req_time[i] > env.now:
                continue  # woken by a speaker leaving: sleep again until the next decision
        t = req_time[i]
        if t > env.now:
            yield env.timeout(t - env.now)
        uid = req_id[i]
        if removed.get(uid, math.inf) <= t or uid in speaking:
            i += 1
            continue  # no longer present, or already on stage: not a request
        rooms.append(r)
        times.append(t)
        if req_u[i] < invite_prob and room.has_free_speaker_seat():
            invited.append(True)
            room.invite(env, uid, t + req_speak[i])
        else:
            invited.append(False)
        i += 1


def _speak(
    env: simpy.Environment,
    room: _Room,
    uid: int,
    until: float,
) -> Proc:
    began = env.now
    until = min(until, room.end)
    try:
        if until > began:
            yield env.timeout(until - began)
    except simpy.Interrupt:
        pass  # removed while speaking
    room.stage.get(1)
    room.invited -= 1
    del room.speaking[uid]
    room.stints[uid].append(env.now)
    freed = room.freed
    if freed is not None and not freed.triggered:
        freed.succeed()
    log = room.log
    log.speaker_room.append(room.index)
    log.speaker_start.append(began)
    log.speaker_end.append(env.now)
    log.speaker_id.append(uid)


def _moderate(env: simpy.Environment, room: _Room, plan: StagePlan, lo: int, hi: int) -> Proc:
    removed, log, r = room.removed, room.log, room.index
    for i in range(lo, hi):
        t = plan.rem_time[i]
        if t > env.now:
            yield env.timeout(t - env.now)
        uid = plan.rem_id[i]
        if uid in removed:
            continue  # already out of the room
        removed[uid] = t
        log.removal_room.append(r)
        log.removal_id.append(uid)
        log.removal_time.append(t)
        process = room.speaking.get(uid)
        # (A speaking process that has not started yet cannot be interrupted; it only exists
        # if the invite and the removal fell on the very same instant.)
        if process is not None and not isinstance(process.target, simpy.events.Initialize):
            process.interrupt()
        if plan.rem_u[i] < plan.rejoin_prob:
            attempt = t + plan.rem_delay[i]
            if attempt < room.end:
                log.blocked_room.append(r)
                log.blocked_time.append(attempt)


def _host_invitations(
    env: simpy.Environment, room: _Room, plan: StagePlan, lo: int, hi: int
) -> Proc:
    """The host's own invitations in one room: seat the invitee if a speaker seat is free."""
    log = room.log
    for i in range(lo, hi):
        t = plan.hinv_time[i]
        if t > env.now:
            yield env.timeout(t - env.now)
        uid = plan.hinv_id[i]
        if room.removed.get(uid, math.inf) <= t or uid in room.speaking:
            continue  # gone, or already on stage
        if not room.has_free_speaker_seat():
            continue  # the host sees a full stage and invites nobody
        log.host_invite_room.append(room.index)
        log.host_invite_time.append(t)
        room.invite(env, uid, t + plan.hinv_speak[i])

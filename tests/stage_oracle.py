"""The stage as ``sim.room_stage`` simulated it before rooms became one process each: the test
oracle the room processes must agree with, log for log.

Here a room runs a request process, a moderation process and a host-invitation process, every
invited speaker is a process of their own, and the stage is a ``simpy.Container`` of 13 slots.
One change from that code: the request process compares request times with the time it meant to
wake at, not with SimPy's clock (``env.now`` is a sum of timeouts and can land one ulp past a
request's time, which declined an acceptable request; ``test_stage_oracle`` pins the case).
Plans are read as lists (``as_lists``).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from sim.room_stage import StageLog, StagePlan
from sim.rules.rooms import MAX_COHOSTS, MAX_SPEAKERS, STAGE_CAPACITY

Proc = Generator[Any, Any, None]


def as_lists(plan: StagePlan) -> StagePlan:
    """The plan with Python lists for arrays (this code indexes them one by one)."""
    return StagePlan(
        **{
            name: value.tolist() if hasattr(value, "tolist") else value
            for name, value in vars(plan).items()
        }
    )


class _Room:
    """Mutable state of one live room."""

    __slots__ = (
        "asked",
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

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        end: float,
        log: StageLog,
        asked: list[tuple[int, float, bool]],
    ) -> None:
        self.asked = asked  # every request of the day: (room, time, invited)
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
    asked: list[tuple[int, float, bool]] = []
    env.process(_hosts(env, plan, log, asked))
    events = 0
    step = env.step
    try:
        while True:
            step()
            events += 1
    except simpy.core.EmptySchedule:
        pass
    log.events = events
    log.request_room = np.array([a[0] for a in asked], dtype=np.int64)
    log.request_time = np.array([a[1] for a in asked], dtype=np.float64)
    log.request_invited = np.array([a[2] for a in asked], dtype=np.bool_)
    return log


def _hosts(
    env: simpy.Environment, plan: StagePlan, log: StageLog, asked: list[tuple[int, float, bool]]
) -> Proc:
    """Hosts start their rooms through the day, in order of start time (the diurnal cycle)."""
    order = sorted(range(len(plan.start)), key=plan.start.__getitem__)
    for r in order:
        start = plan.start[r]
        if start > env.now:
            yield env.timeout(start - env.now)
        room = _open(env, r, plan, log, asked)
        if plan.req_first[r + 1] > plan.req_first[r]:
            env.process(_requests(env, room, plan))
        lo, hi = plan.rem_first[r], plan.rem_first[r + 1]
        if hi > lo:
            env.process(_moderate(env, room, plan, lo, hi))
        lo, hi = plan.hinv_first[r], plan.hinv_first[r + 1]
        if hi > lo:
            env.process(_host_invitations(env, room, plan, lo, hi))


def _open(
    env: simpy.Environment,
    r: int,
    plan: StagePlan,
    log: StageLog,
    asked: list[tuple[int, float, bool]],
) -> _Room:
    """Open room ``r`` now: seat the host, co-hosts and opening speakers in one put.

    Nothing waits on the room's end, so closing it needs no event: those seats are held to the
    end and the stage is discarded with them (invited speakers give their slots back before).
    """
    start, end = plan.start[r], plan.end[r]
    room = _Room(env, r, end, log, asked)
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
    r = room.index
    invite_prob = plan.invite_prob
    req_time, req_id, req_u, req_speak = plan.req_time, plan.req_id, plan.req_u, plan.req_speak
    removed, speaking = room.removed, room.speaking
    asked = room.asked
    i, hi = plan.req_first[r], plan.req_first[r + 1]
    last, batch = req_time[hi - 1], plan.batch_declines
    while i < hi:
        if batch and last > env.now:
            if not room.has_free_speaker_seat():
                # Full stage: sleep until a slot frees or the last request is due.
                room.freed = env.event()
                yield room.freed | env.timeout(last - env.now)
                woke = env.now if room.freed.triggered else last
                room.freed = None
            else:
                # Sleep until the next request the host would accept (or the last one).
                j = i
                while j < hi and req_u[j] >= invite_prob:
                    j += 1
                target = req_time[j] if j < hi else last
                woke = max(target, env.now)
                if target > env.now:
                    yield env.timeout(target - env.now)
            # Decline what came in meanwhile; requests due right now go one by one below.
            now = woke
            while i < hi and req_time[i] < now:
                t, uid = req_time[i], req_id[i]
                i += 1
                if removed.get(uid, math.inf) <= t:
                    continue  # no longer present: not a request
                if room.on_stage_at(uid, t):
                    continue  # on stage at the time: not a request
                asked.append((r, t, False))
            if i >= hi:
                break
            if req_time[i] > now:
                continue  # woken by a speaker leaving: sleep again until the next decision
        t = req_time[i]
        if t > env.now:
            yield env.timeout(t - env.now)
        uid = req_id[i]
        if removed.get(uid, math.inf) <= t or uid in speaking:
            i += 1
            continue  # no longer present, or already on stage: not a request
        if req_u[i] < invite_prob and room.has_free_speaker_seat():
            asked.append((r, t, True))
            room.invite(env, uid, t + req_speak[i])
        else:
            asked.append((r, t, False))
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

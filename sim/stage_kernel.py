"""The rooms' stage logic compiled (numba), driven by the same SimPy processes.

``sim.room_stage`` runs every busy room as a SimPy process that sleeps until the host's next
act and does it. Here the processes and their events are the same (one ``env.timeout`` per
wake-up, the hosts process opening the rooms, the same event count); what a process does when
it wakes (log the speakers who stepped down, do the act, walk to the next act) is one call of
:func:`room_wake`, compiled, on the room's state held in two flat arrays instead of Python
sets, dicts and a heap:

* who is removed: a room's removed listeners are exactly the removal candidates before its
  pointer ``j`` (a candidate already removed is skipped, any other is removed), so "is removed"
  is "their first candidate index is below ``j``", worked out for every request, invitation
  and candidate beforehand;
* who is speaking: at most 10 invited speakers, in slots (listener, until, since); the next
  exit is the slot with the smallest (until, listener), as the heap's order;
* the log: preallocated arrays filled in the order the Python processes append to theirs.

It gives the same log, in the same order, as ``room_stage`` (tests/test_room_kernels.py). Its
state is packed into one array (ints, and floats as their bits, with the segment offsets in
front), so a call unboxes one array rather than forty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.room_kernels import _compile
from sim.rules.rooms import MAX_COHOSTS, MAX_SPEAKERS, STAGE_CAPACITY

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SLOTS = MAX_SPEAKERS  # invited speakers on stage at once, at most
NEVER = np.iinfo(np.int64).max

# Float segments.
(F_START, F_END, F_RQ_T, F_RQ_U, F_RQ_SPEAK, F_RM_T, F_RM_U, F_RM_DELAY, F_HV_T, F_HV_SPEAK,
 F_SLOT_UNTIL, F_SLOT_SINCE, F_PEND_ON, F_PEND_OFF, F_ACT_T, F_LOG_SPK_START, F_LOG_SPK_END,
 F_LOG_REM_T, F_LOG_BLK_T, F_LOG_HINV_T, F_PARAMS, N_F) = range(22)
# Int segments.
(I_COHOSTS, I_INITIAL, I_RQ_FIRST, I_RQ_ID, I_RQ_GONE, I_RQ_INDEX, I_RM_FIRST, I_RM_ID,
 I_RM_GONE, I_HV_FIRST, I_HV_ID, I_HV_GONE, I_STATE, I_SLOT_UID, I_PEND_UID, I_LOG_SPK_ROOM,
 I_LOG_SPK_ID, I_LOG_REM_ROOM, I_LOG_REM_ID, I_LOG_BLK_ROOM, I_LOG_HINV_ROOM, I_LOG_TAKEN,
 I_ROOM_MAX, I_COUNT, N_I) = range(25)
# Per-room state columns (I_STATE, row-major by room).
S_I, S_J, S_H, S_LEVEL, S_INVITED, S_TOP, S_ACT, S_NPEND, S_COLS = range(9)
# Counters (I_COUNT).
C_SPK, C_REM, C_BLK, C_HINV, C_TAKEN, C_BATCH, N_COUNT = range(7)
# Acts.
NOTHING, REMOVAL, REQUEST, INVITATION = range(4)


HEADER = N_I + 1 + N_F + 1


@dataclass
class PackedStage:
    """The stage's inputs, state and log in one int64 buffer: a header of segment offsets
    (``N_I + 1`` for the int segments, then ``N_F + 1`` for the float ones, all absolute), the
    int segments, then the float segments (float64 bits; read through ``buffer.view``)."""

    buffer: IntArray

    def f(self, segment: int) -> FloatArray:
        at = self.buffer[N_I + 1 + segment : N_I + 3 + segment]
        view: FloatArray = self.buffer.view(np.float64)[at[0] : at[1]]
        return view

    def i(self, segment: int) -> IntArray:
        view: IntArray = self.buffer[self.buffer[segment] : self.buffer[segment + 1]]
        return view


def _first_index_of(room: IntArray, uid: IntArray, candidate_room: IntArray,
                    candidate: IntArray) -> IntArray:
    """For each (room, uid): the first index in the candidates (by room, then in order)
    holding it in the same room (``NEVER`` if none)."""
    if candidate.shape[0] == 0:
        return np.full(uid.shape[0], NEVER, dtype=np.int64)
    span = int(max(int(candidate.max()), int(uid.max()) if uid.shape[0] else 0)) + 1
    keys = candidate_room * span + candidate
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    want = room * span + uid
    pos = np.minimum(np.searchsorted(keys, want, side="left"), keys.shape[0] - 1)
    found: IntArray = np.where(keys[pos] == want, order[pos], NEVER)
    return found


def pack(
    start: FloatArray, end: FloatArray, cohosts: IntArray, initial: IntArray,
    invite_prob: float, rejoin_prob: float, batch: bool,
    req: IntArray, req_first: IntArray, req_time: FloatArray, req_id: IntArray,
    req_u: FloatArray, req_speak: FloatArray,
    rem_first: IntArray, rem_time: FloatArray, rem_id: IntArray, rem_u: FloatArray,
    rem_delay: FloatArray,
    hinv_first: IntArray, hinv_time: FloatArray, hinv_id: IntArray, hinv_speak: FloatArray,
) -> PackedStage:
    """Pack a day's stage (requests already cut to those the rooms walk, ``req`` their
    indices in the plan's requests and ``req_first`` their offsets by room)."""
    n_rooms = start.shape[0]
    n_req, n_rem, n_hinv = req_time.shape[0], rem_time.shape[0], hinv_time.shape[0]
    n_speakers = int(STAGE_CAPACITY) * n_rooms + n_req + n_hinv
    floats = [
        start, end, req_time, req_u, req_speak, rem_time, rem_u, rem_delay, hinv_time,
        hinv_speak,
        np.zeros(n_rooms * SLOTS), np.zeros(n_rooms * SLOTS), np.zeros(n_rooms * SLOTS),
        np.zeros(n_rooms * SLOTS), np.zeros(n_rooms),
        np.zeros(n_speakers), np.zeros(n_speakers), np.zeros(n_rem), np.zeros(n_rem),
        np.zeros(n_hinv), np.array([invite_prob, rejoin_prob]),
    ]
    counts = np.zeros(N_COUNT, dtype=np.int64)
    counts[C_BATCH] = int(batch)
    state = np.zeros((n_rooms, S_COLS), dtype=np.int64)
    state[:, S_I] = req_first[:-1]
    state[:, S_J] = rem_first[:-1]
    state[:, S_H] = hinv_first[:-1]
    rooms = np.arange(n_rooms, dtype=np.int64)
    req_room = np.repeat(rooms, np.diff(req_first))
    rem_room = np.repeat(rooms, np.diff(rem_first))
    hinv_room = np.repeat(rooms, np.diff(hinv_first))
    ints = [
        cohosts, initial, req_first, req_id, _first_index_of(req_room, req_id, rem_room, rem_id),
        req, rem_first, rem_id, _first_index_of(rem_room, rem_id, rem_room, rem_id),
        hinv_first, hinv_id, _first_index_of(hinv_room, hinv_id, rem_room, rem_id),
        state.ravel(), np.full(n_rooms * SLOTS, -1, dtype=np.int64),
        np.zeros(n_rooms * SLOTS, dtype=np.int64),
        np.zeros(n_speakers, dtype=np.int64), np.zeros(n_speakers, dtype=np.int64),
        np.zeros(n_rem, dtype=np.int64), np.zeros(n_rem, dtype=np.int64),
        np.zeros(n_rem, dtype=np.int64), np.zeros(n_hinv, dtype=np.int64),
        np.zeros(n_req, dtype=np.int64), np.zeros(n_rooms, dtype=np.int64), counts,
    ]
    assert len(floats) == N_F and len(ints) == N_I
    i_sizes = [np.asarray(a).shape[0] for a in ints]
    f_sizes = [np.asarray(a).shape[0] for a in floats]
    i_at = HEADER + np.concatenate([[0], np.cumsum(i_sizes)])
    f_at = int(i_at[-1]) + np.concatenate([[0], np.cumsum(f_sizes)])
    buffer = np.empty(int(f_at[-1]), dtype=np.int64)
    buffer[: N_I + 1] = i_at
    buffer[N_I + 1 : HEADER] = f_at
    as_float = buffer.view(np.float64)
    for k, a in enumerate(ints):
        buffer[i_at[k] : i_at[k + 1]] = a
    for k, a in enumerate(floats):
        as_float[f_at[k] : f_at[k + 1]] = a
    return PackedStage(buffer)


def _open_room(buffer: IntArray, r: int) -> None:
    # ``room_stage._open``: seat the host, co-hosts and opening speakers.
    it, fl = buffer, buffer.view(np.float64)
    ia, fa = buffer[: N_I + 1], buffer[N_I + 1 : HEADER]
    st = it[ia[I_STATE] : ia[I_STATE + 1]]
    count = it[ia[I_COUNT] : ia[I_COUNT + 1]]
    cohosts = min(it[ia[I_COHOSTS] + r], MAX_COHOSTS)
    invited = min(it[ia[I_INITIAL] + r], MAX_SPEAKERS, STAGE_CAPACITY - 1 - cohosts)
    seated = 1 + cohosts + invited
    start, end = fl[fa[F_START] + r], fl[fa[F_END] + r]
    it[ia[I_ROOM_MAX] + r] = seated
    k = count[C_SPK]
    for _ in range(seated):
        it[ia[I_LOG_SPK_ROOM] + k] = r
        it[ia[I_LOG_SPK_ID] + k] = -1
        fl[fa[F_LOG_SPK_START] + k] = start
        fl[fa[F_LOG_SPK_END] + k] = end
        k += 1
    count[C_SPK] = k
    row = r * S_COLS
    st[row + S_LEVEL] = seated
    st[row + S_INVITED] = invited
    st[row + S_TOP] = seated
    st[row + S_ACT] = NOTHING
    st[row + S_NPEND] = 0


def _log_speaker(fl: FloatArray, it: IntArray, fa: IntArray, ia: IntArray, r: int, uid: int,
                 on: float, off: float) -> None:
    count = it[ia[I_COUNT] : ia[I_COUNT + 1]]
    k = count[C_SPK]
    it[ia[I_LOG_SPK_ROOM] + k] = r
    it[ia[I_LOG_SPK_ID] + k] = uid
    fl[fa[F_LOG_SPK_START] + k] = on
    fl[fa[F_LOG_SPK_END] + k] = off
    count[C_SPK] = k + 1


_log_speaker = _compile(_log_speaker)


def _slot_of(slot_uid: IntArray, base: int, uid: int) -> int:
    for s in range(base, base + SLOTS):
        if slot_uid[s] == uid:
            return s
    return -1


_slot_of = _compile(_slot_of)


def _room_wake(buffer: IntArray, r: int, env_now: float) -> float:
    # One wake-up of room r's process (``room_stage._room`` between two yields): log who
    # stepped down, do the act due now, walk on; returns when to wake next, or -1.0 when the
    # process ends.
    it, fl = buffer, buffer.view(np.float64)
    ia, fa = buffer[: N_I + 1], buffer[N_I + 1 : HEADER]
    end = fl[fa[F_END] + r]
    invite_prob, rejoin_prob = fl[fa[F_PARAMS]], fl[fa[F_PARAMS] + 1]
    rq_t = fl[fa[F_RQ_T] : fa[F_RQ_T + 1]]
    rq_u = fl[fa[F_RQ_U] : fa[F_RQ_U + 1]]
    rq_speak = fl[fa[F_RQ_SPEAK] : fa[F_RQ_SPEAK + 1]]
    rm_t = fl[fa[F_RM_T] : fa[F_RM_T + 1]]
    rm_u = fl[fa[F_RM_U] : fa[F_RM_U + 1]]
    rm_delay = fl[fa[F_RM_DELAY] : fa[F_RM_DELAY + 1]]
    hv_t = fl[fa[F_HV_T] : fa[F_HV_T + 1]]
    hv_speak = fl[fa[F_HV_SPEAK] : fa[F_HV_SPEAK + 1]]
    slot_until = fl[fa[F_SLOT_UNTIL] : fa[F_SLOT_UNTIL + 1]]
    slot_since = fl[fa[F_SLOT_SINCE] : fa[F_SLOT_SINCE + 1]]
    pend_on = fl[fa[F_PEND_ON] : fa[F_PEND_ON + 1]]
    pend_off = fl[fa[F_PEND_OFF] : fa[F_PEND_OFF + 1]]
    rq_id = it[ia[I_RQ_ID] : ia[I_RQ_ID + 1]]
    rq_gone = it[ia[I_RQ_GONE] : ia[I_RQ_GONE + 1]]
    rq_index = it[ia[I_RQ_INDEX] : ia[I_RQ_INDEX + 1]]
    rm_id = it[ia[I_RM_ID] : ia[I_RM_ID + 1]]
    rm_gone = it[ia[I_RM_GONE] : ia[I_RM_GONE + 1]]
    hv_id = it[ia[I_HV_ID] : ia[I_HV_ID + 1]]
    hv_gone = it[ia[I_HV_GONE] : ia[I_HV_GONE + 1]]
    st = it[ia[I_STATE] : ia[I_STATE + 1]]
    slot_uid = it[ia[I_SLOT_UID] : ia[I_SLOT_UID + 1]]
    pend_uid = it[ia[I_PEND_UID] : ia[I_PEND_UID + 1]]
    count = it[ia[I_COUNT] : ia[I_COUNT + 1]]
    batch = count[C_BATCH] != 0
    i_hi = it[ia[I_RQ_FIRST] + r + 1]
    j_hi = it[ia[I_RM_FIRST] + r + 1]
    h_hi = it[ia[I_HV_FIRST] + r + 1]
    row = r * S_COLS
    i, j, h = st[row + S_I], st[row + S_J], st[row + S_H]
    level, invited, top = st[row + S_LEVEL], st[row + S_INVITED], st[row + S_TOP]
    act, npend = st[row + S_ACT], st[row + S_NPEND]
    base = r * SLOTS
    inf = np.inf
    now = fl[fa[F_ACT_T] + r]
    waking = act != NOTHING or npend > 0  # (the first call walks from the opening)
    while True:
        if waking:
            # after the (possible) sleep: log the speakers who stepped down, then the act
            for p in range(base, base + npend):
                _log_speaker(fl, it, fa, ia, r, pend_uid[p], pend_on[p], pend_off[p])
            npend = 0
            if act == NOTHING:
                break
            free = invited < MAX_SPEAKERS and level < STAGE_CAPACITY
            accept = False
            uid = 0
            speak = 0.0
            if act == REMOVAL:
                uid = rm_id[j]
                k = count[C_REM]
                it[ia[I_LOG_REM_ROOM] + k] = r
                it[ia[I_LOG_REM_ID] + k] = uid
                fl[fa[F_LOG_REM_T] + k] = now
                count[C_REM] = k + 1
                s = _slot_of(slot_uid, base, uid)
                if s >= 0:  # removed while speaking: off the stage at once
                    slot_uid[s] = -1
                    level, invited = level - 1, invited - 1
                    _log_speaker(fl, it, fa, ia, r, uid, slot_since[s], now)
                if rm_u[j] < rejoin_prob and now + rm_delay[j] < end:
                    k = count[C_BLK]
                    it[ia[I_LOG_BLK_ROOM] + k] = r
                    fl[fa[F_LOG_BLK_T] + k] = now + rm_delay[j]
                    count[C_BLK] = k + 1
                j += 1
            elif act == REQUEST:
                uid, speak = rq_id[i], rq_speak[i]
                accept = free and rq_u[i] < invite_prob
                if accept:
                    k = count[C_TAKEN]
                    it[ia[I_LOG_TAKEN] + k] = rq_index[i]
                    count[C_TAKEN] = k + 1
                i += 1
            else:
                uid, speak = hv_id[h], hv_speak[h]
                accept = (free and not hv_gone[h] < j
                          and _slot_of(slot_uid, base, uid) < 0)
                h += 1
                if accept:
                    k = count[C_HINV]
                    it[ia[I_LOG_HINV_ROOM] + k] = r
                    fl[fa[F_LOG_HINV_T] + k] = now
                    count[C_HINV] = k + 1
            if accept:
                level, invited = level + 1, invited + 1
                if level > top:
                    top = level
                until = min(now + speak, end)
                s = _slot_of(slot_uid, base, -1)
                slot_uid[s] = uid
                slot_until[s] = until
                slot_since[s] = now
        waking = True
        # Walk to the host's next act; at equal times: exits, removal, request, invitation.
        while j < j_hi and rm_gone[j] < j:
            j += 1  # already out of the room: nothing happens
        t_remove = rm_t[j] if j < j_hi else inf
        act = NOTHING
        while True:
            t_invite = hv_t[h] if h < h_hi else inf
            leave_slot = -1
            t_leave = inf
            for s in range(base, base + SLOTS):
                if slot_uid[s] >= 0 and (
                    slot_until[s] < t_leave
                    or (slot_until[s] == t_leave and slot_uid[s] < slot_uid[leave_slot])
                ):
                    leave_slot, t_leave = s, slot_until[s]
            bound = t_leave if t_leave < t_remove else t_remove
            cut = bound if bound <= t_invite else np.nextafter(t_invite, inf)
            if batch and (invited >= MAX_SPEAKERS or level >= STAGE_CAPACITY):
                while i < i_hi and rq_t[i] < cut:
                    i += 1  # a full stage: declined
            else:
                while i < i_hi and rq_t[i] < cut:
                    if rq_gone[i] < j or _slot_of(slot_uid, base, rq_id[i]) >= 0:
                        i += 1  # gone, or on stage: not a request
                        continue
                    act, now = REQUEST, rq_t[i]
                    break
                if act != NOTHING:
                    break
            now = t_invite if t_invite < bound else bound
            if now == inf:
                break
            if t_leave == now:
                p = base + npend
                pend_uid[p] = slot_uid[leave_slot]
                pend_on[p] = slot_since[leave_slot]
                pend_off[p] = t_leave
                npend += 1
                slot_uid[leave_slot] = -1
                level, invited = level - 1, invited - 1
                continue
            if t_remove == now:
                act = REMOVAL
                break
            if batch and (
                invited >= MAX_SPEAKERS
                or level >= STAGE_CAPACITY
                or hv_gone[h] < j
                or _slot_of(slot_uid, base, hv_id[h]) >= 0
            ):
                h += 1  # no free seat, or the invitee is gone or on stage: nobody invited
                continue
            act = INVITATION
            break
        if act == NOTHING:
            if npend == 0:
                break
            now = pend_off[base + npend - 1]
        if now > env_now:
            st[row + S_I], st[row + S_J], st[row + S_H] = i, j, h
            st[row + S_LEVEL], st[row + S_INVITED], st[row + S_TOP] = level, invited, top
            st[row + S_ACT], st[row + S_NPEND] = act, npend
            fl[fa[F_ACT_T] + r] = now
            return float(now)
    it[ia[I_ROOM_MAX] + r] = top
    st[row + S_ACT], st[row + S_NPEND] = NOTHING, 0
    return -1.0


def _first_at_or_above(sorted_ids: IntArray, uid: int) -> int:
    # ``np.searchsorted(sorted_ids, uid, side="left")``.
    a, b = 0, sorted_ids.shape[0]
    while a < b:
        mid = (a + b) >> 1
        if sorted_ids[mid] < uid:
            a = mid + 1
        else:
            b = mid
    return a


def _real_requests(time: FloatArray, uid: IntArray, gone: IntArray, gone_at: FloatArray,
                   who: IntArray, on: FloatArray, off: FloatArray, real: NDArray[np.bool_]
                   ) -> None:
    # ``room_stage._log_requests``' test, request by request: ``gone`` (sorted) were removed at
    # ``gone_at``; ``who`` (sorted) spoke over (``on``, ``off``).
    n_gone, n_who = gone.shape[0], who.shape[0]
    for q in range(uid.shape[0]):
        u, t = uid[q], time[q]
        if n_gone:
            pos = min(_first_at_or_above(gone, u), n_gone - 1)
            if gone[pos] == u and gone_at[pos] <= t:
                real[q] = False
                continue
        k = _first_at_or_above(who, u) if n_who else 0
        while k < n_who and who[k] == u:
            if on[k] < t and t < off[k]:
                real[q] = False
                break
            k += 1


_first_at_or_above = _compile(_first_at_or_above)
_real_requests_c = _compile(_real_requests)
_open_room_c = _compile(_open_room)
_room_wake_c = _compile(_room_wake)


def entry_points() -> tuple[Callable[[IntArray, int], None],
                            Callable[[IntArray, int, float], float]]:
    """``(open_room, room_wake)`` on the packed buffer, as the compiled functions' own entry
    points once loaded: a call then skips numba's dispatch on the argument types (about a
    third of a call's cost; the arguments are always one int64 buffer, an int and a float)."""
    return _entry_point(_open_room_c), _entry_point(_room_wake_c)


def _entry_point(function: Any) -> Any:
    overloads = getattr(function, "overloads", None)
    if overloads is None:  # pragma: no cover - numba absent: the Python function itself
        return function
    if len(overloads) != 1:
        warm_up()
    if len(overloads) != 1:  # pragma: no cover - other signatures compiled: let numba pick
        return function
    return next(iter(overloads.values())).entry_point


def real_requests(time: FloatArray, uid: IntArray, gone: IntArray, gone_at: FloatArray,
                  who: IntArray, on: FloatArray, off: FloatArray) -> NDArray[np.bool_]:
    """Which requests are requests: not from a listener removed at or before it (``gone``,
    sorted, removed at ``gone_at``) nor from one on stage then (``who``, sorted, over (``on``,
    ``off``)); ``room_stage._log_requests``' test in one compiled pass."""
    real = np.ones(uid.shape[0], dtype=np.bool_)
    _real_requests_c(time, uid, gone, gone_at, who, on, off, real)
    return real


def open_room(packed: PackedStage, r: int) -> None:
    """Open room ``r`` now (``room_stage._open``)."""
    _open_room_c(packed.buffer, r)


def room_wake(packed: PackedStage, r: int, now: float) -> float:
    """Room ``r``'s process at SimPy time ``now``: when to wake next, or -1.0 to end."""
    wake = float(_room_wake_c(packed.buffer, r, now))
    return wake


def warm_up() -> None:
    """Load the compiled stage (see ``room_kernels.warm_up``)."""
    empty_f, empty_i = np.empty(0), np.empty(0, dtype=np.int64)
    zero = np.zeros(2, dtype=np.int64)
    packed = pack(np.zeros(1), np.ones(1), np.zeros(1, dtype=np.int64),
                  np.zeros(1, dtype=np.int64), 0.3, 0.3, True, empty_i, zero, empty_f, empty_i,
                  empty_f, empty_f, zero, empty_f, empty_i, empty_f, empty_f, zero, empty_f,
                  empty_i, empty_f)
    open_room(packed, 0)
    room_wake(packed, 0, 0.0)
    one_i, one_f = np.zeros(1, dtype=np.int64), np.zeros(1)
    real_requests(one_f, one_i, one_i, one_f, one_i, one_f, one_f)


"""Compiled loops (numba) for the per-session work of a sampled day, with numpy as the fallback.

A baseline replication draws ~67M listener sessions on its sampled days. In numpy every step
over them (placing the sessions in their rooms, cumulating their listener-time, finding the
session a Poisson point falls in, counting the sessions per minute and per hour, finding the
ones live at the busiest minute) is a pass over day-sized arrays with a temporary of its own,
some twenty in all. Each function here does one of those steps in a single loop over the
sessions, room by room, in the same order and with the same floating-point operations as the
numpy code it stands for, so the results are identical bit for bit (tests/test_room_kernels.py
checks each against that code, and whole days against the numpy path):

* sums are sequential in session order, as ``np.cumsum`` and ``np.bincount`` add;
* ``np.minimum``/``np.clip`` are the same comparisons; ``np.ceil`` and the ``int`` cast are
  ``math.ceil``/``int``; no fused multiply-add (numba does not contract without ``fastmath``);
* ``np.exp`` stays in numpy (its SIMD ``exp`` may round differently from the C library's),
  and so do all random draws: the kernels only read arrays numpy drew, in the same order and
  sizes as before, so the random streams are untouched.

numba is a dependency, but the model does not need it: without it (not installed, or
``SPACES_SIM_KERNELS=0``) ``sim.room_sessions`` and ``sim.rooms`` run their numpy code, which
the tests run too. The compiled code is cached next to this file (``cache=True``), so only the
first run on a machine pays the compilation (a few seconds).
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

MINUTES_PER_DAY = 1440

numba: Any
try:  # numba is optional at run time: the numpy code is the fallback
    numba = importlib.import_module("numba")
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None

#: Whether ``sim.room_sessions`` and ``sim.rooms`` use these kernels (tests switch it).
ENABLED = numba is not None and os.environ.get("SPACES_SIM_KERNELS", "1") != "0"


def _compile(function: Callable[..., Any]) -> Callable[..., Any]:
    if numba is None:  # pragma: no cover
        return function
    compiled: Callable[..., Any] = numba.njit(cache=True, nogil=True)(function)
    return compiled


def _fill_sessions(
    first: IntArray,
    room_start: FloatArray,
    duration: FloatArray,
    room_end: FloatArray,
    ticketed: BoolArray,
    start: FloatArray,
    end: FloatArray,
    delay: FloatArray,
    cum: FloatArray,
) -> None:
    # ``start`` holds the uniforms and ``end`` the lognormal stays; both are overwritten.
    held = 0
    total = 0.0
    cum[0] = 0.0
    for r in range(first.shape[0] - 1):
        rs, d, re, t = room_start[r], duration[r], room_end[r], ticketed[r]
        for i in range(first[r], first[r + 1]):
            s = start[i] * d + rs
            e = s + end[i]
            if re < e:
                e = re
            if t:
                s = rs + delay[held]
                held += 1
                if re < s:
                    s = re
                e = re
            start[i] = s
            end[i] = e
            total += e - s
            cum[i + 1] = total


def _last_at_or_below(cum: FloatArray, x: float, lo: int, hi: int) -> int:
    # The last s in [lo, hi) with cum[s] <= x, given cum[lo] <= x (the room's points are
    # sorted, so each search starts at the previous point's session).
    a = lo + 1  # every index below a has cum <= x
    # Step first (the next point is usually a few sessions on, and memory read in order is
    # fetched ahead), then gallop.
    stop = min(hi, a + 64)
    while a < stop and cum[a] <= x:
        a += 1
    if a < stop:
        return a - 1
    b = a
    step = 1
    while b < hi and cum[b] <= x:
        a = b + 1
        b += step
        step *= 2
    if b > hi:
        b = hi
    while a < b:  # the first index in [a, b) with cum > x, else b
        mid = (a + b) >> 1
        if cum[mid] <= x:
            a = mid + 1
        else:
            b = mid
    return a - 1


def _points(
    first: IntArray,
    start: FloatArray,
    end: FloatArray,
    cum: FloatArray,
    k: IntArray,
    u: FloatArray,
    session: IntArray,
    time: FloatArray,
) -> None:
    # ``u``: the points on the listener-time axis, grouped by room as ``k`` says, sorted
    # within each room (``_place``).
    p = 0
    for r in range(first.shape[0] - 1):
        kr = k[r]
        if kr == 0:
            continue
        lo_s, hi_s = first[r], first[r + 1]
        s_lo = lo_s
        for q in range(p, p + kr):
            x = u[q]
            s = _last_at_or_below(cum, x, s_lo, hi_s)
            s_lo = s
            s0 = start[s]
            v = s0 + (x - cum[s])
            if v < s0:
                v = s0
            if end[s] < v:
                v = end[s]
            session[q] = s
            time[q] = v
        p += kr


def _points_hourly(
    first: IntArray,
    start: FloatArray,
    end: FloatArray,
    cum: FloatArray,
    k: IntArray,
    u: FloatArray,
    weight: FloatArray,
    hours: FloatArray,
) -> int:
    # As ``_points``, but each point only adds its room's weight to its hour; returns the
    # largest hour index seen (-1 if none). (A room's points all weigh the same, so their
    # order within the room does not change the sums; they are sorted for the search.)
    p = 0
    top = -1
    for r in range(first.shape[0] - 1):
        kr = k[r]
        if kr == 0:
            continue
        lo_s, hi_s = first[r], first[r + 1]
        w = weight[r]
        s_lo = lo_s
        for q in range(p, p + kr):
            x = u[q]
            s = _last_at_or_below(cum, x, s_lo, hi_s)
            s_lo = s
            s0 = start[s]
            v = s0 + (x - cum[s])
            if v < s0:
                v = s0
            if end[s] < v:
                v = end[s]
            hour = int(v * (1.0 / 60.0))
            hours[hour] += w
            if hour > top:
                top = hour
        p += kr
    return top


def _place(first: IntArray, cum: FloatArray, k: IntArray, u: FloatArray) -> None:
    # Uniforms -> positions on each room's listener-time, in place.
    p = 0
    for r in range(first.shape[0] - 1):
        kr = k[r]
        if kr == 0:
            continue
        base = cum[first[r]]
        span = cum[first[r + 1]] - base
        for q in range(p, p + kr):
            u[q] = u[q] * span + base
        p += kr


def _sort_each_room(k: IntArray, x: FloatArray, spill: FloatArray, count: IntArray) -> None:
    # Sort each room's points (``k[r]`` consecutive values of ``x``) in place. The points are
    # uniform over the room's listener-time, so a bucket sort (one bucket per point, by value
    # between the room's smallest and largest) leaves ~one point a bucket, and an insertion
    # sort finishes it: linear time. A sort's result is the values in order whatever the
    # method, so this is numpy's sort's result.
    p = 0
    for r in range(k.shape[0]):
        m = k[r]
        if m > 1:
            _sort_segment(x, p, p + m, spill, count)
        p += m


def _sort_segment(x: FloatArray, lo: int, hi: int, spill: FloatArray, count: IntArray) -> None:
    m = hi - lo
    if m > 16:
        smallest, largest = x[lo], x[lo]
        for i in range(lo, hi):
            if x[i] < smallest:
                smallest = x[i]
            if x[i] > largest:
                largest = x[i]
        if largest > smallest:
            scale = m / (largest - smallest)
            count[: m + 1] = 0
            for i in range(lo, hi):
                count[min(int((x[i] - smallest) * scale), m - 1) + 1] += 1
            for b in range(m):
                count[b + 1] += count[b]
            for i in range(lo, hi):
                b = min(int((x[i] - smallest) * scale), m - 1)
                spill[count[b]] = x[i]
                count[b] += 1
            x[lo:hi] = spill[:m]
    for i in range(lo + 1, hi):  # insertion sort: each value moves within its bucket only
        v = x[i]
        j = i - 1
        while j >= lo and x[j] > v:
            x[j + 1] = x[j]
            j -= 1
        x[j + 1] = v


def _by_time_within_rooms(first: IntArray, time: FloatArray, order: IntArray) -> None:
    # ``np.lexsort((time, room))`` of points grouped by room (``first``: offsets): each room's
    # points by time, ties in their order (a stable sort, as lexsort's).
    for r in range(first.shape[0] - 1):
        lo, hi = first[r], first[r + 1]
        if hi - lo == 1:
            order[lo] = lo
        elif hi - lo > 1:
            within = np.argsort(time[lo:hi], kind="mergesort")
            for i in range(hi - lo):
                order[lo + i] = lo + within[i]


def _recumulate(start: FloatArray, end: FloatArray, cum: FloatArray, k: int) -> None:
    total = cum[k]
    for i in range(k, start.shape[0]):
        total += end[i] - start[i]
        cum[i + 1] = total


def _day_counts(
    first: IntArray,
    start: FloatArray,
    end: FloatArray,
    weight: FloatArray,
    blocked: IntArray,
    enter: FloatArray,
    leave: FloatArray,
    joins: FloatArray,
) -> tuple[int, int]:
    # Per whole minute: weight of sessions entering (ceil(start)) and leaving (ceil(end));
    # per hour: weight of joins (blocked sessions add 0.0). Returns the largest minute and hour.
    b, nb = 0, blocked.shape[0]
    top_minute, top_hour = 0, 0
    for r in range(first.shape[0] - 1):
        w = weight[r]
        for i in range(first[r], first[r + 1]):
            s = start[i]
            lo = math.ceil(s)
            hi = math.ceil(end[i])
            enter[lo] += w
            leave[hi] += w
            if hi > top_minute:
                top_minute = hi
            jw = w
            while b < nb and blocked[b] == i:
                jw = 0.0
                b += 1
            hour = int(s * (1.0 / 60.0))
            joins[hour] += jw
            if hour > top_hour:
                top_hour = hour
    return top_minute, top_hour


def _covering_counts(
    first: IntArray,
    start: FloatArray,
    end: FloatArray,
    minute: int,
    laps: int,
    rooms: IntArray,
    out: IntArray,
) -> None:
    # Per room of ``rooms``: sessions covering whole minute ``minute`` of any lap of the
    # (folded) day.
    for r in rooms:
        c = 0
        for i in range(first[r], first[r + 1]):
            lo = math.ceil(start[i])
            hi = math.ceil(end[i])
            for lap in range(laps):
                at = minute + lap * MINUTES_PER_DAY
                if lo <= at and at < hi:
                    c += 1
                    break
        out[r] = c


_last_at_or_below = _compile(_last_at_or_below)
_fill_sessions_c = _compile(_fill_sessions)
_place_c = _compile(_place)
_sort_segment = _compile(_sort_segment)
_sort_each_room_c = _compile(_sort_each_room)
_points_c = _compile(_points)
_points_hourly_c = _compile(_points_hourly)
_recumulate_c = _compile(_recumulate)
_by_time_within_rooms_c = _compile(_by_time_within_rooms)
_day_counts_c = _compile(_day_counts)
_covering_counts_c = _compile(_covering_counts)


def fill_sessions(
    first: IntArray,
    room_start: FloatArray,
    room_end: FloatArray,
    ticketed: BoolArray,
    uniform: FloatArray,
    stay: FloatArray,
    delay: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Sessions' (start, end, cum) from their uniforms and stays, as ``generate_sessions``:
    start uniform over the room's life, end at start + stay cut at the room's end; a ticketed
    room's sessions start ``delay`` after it opens (cut at its end) and stay to its end.
    ``uniform`` and ``stay`` are overwritten with start and end."""
    cum = np.empty(uniform.shape[0] + 1)
    _fill_sessions_c(first, room_start, room_end - room_start, room_end, ticketed, uniform, stay,
                     delay, cum)
    return uniform, stay, cum


def points(
    first: IntArray,
    start: FloatArray,
    end: FloatArray,
    cum: FloatArray,
    k: IntArray,
    uniform: FloatArray,
) -> tuple[IntArray, IntArray, FloatArray]:
    """``room_sessions.poisson_points`` from its draws (``k`` points per room, ``uniform``):
    (room, session, time), by room, in order of listener-time within a room."""
    n_points = uniform.shape[0]
    session = np.empty(n_points, dtype=np.int64)
    time = np.empty(n_points)
    room = np.repeat(np.arange(k.shape[0], dtype=np.int64), k)
    _points_c(first, start, end, cum, k, _sorted_positions(first, cum, k, uniform), session,
              time)
    return room, session, time


def points_hourly(
    first: IntArray,
    start: FloatArray,
    end: FloatArray,
    cum: FloatArray,
    k: IntArray,
    uniform: FloatArray,
    weight: FloatArray,
) -> FloatArray:
    """``hourly_count`` of ``points``' times, each weighted by its room's ``weight``."""
    hours = np.zeros(math.ceil(float(end.max()) / 60.0) + 2 if end.shape[0] else 1)
    x = _sorted_positions(first, cum, k, uniform)
    top = int(_points_hourly_c(first, start, end, cum, k, x, weight, hours))
    return fold_hours(hours, top)


def _sorted_positions(first: IntArray, cum: FloatArray, k: IntArray, uniform: FloatArray
                      ) -> FloatArray:
    """The points' positions on the listener-time axis, sorted within each room (as
    ``np.sort`` would sort each room's, in linear time: ``_sort_each_room``); ``uniform`` is
    overwritten and returned."""
    _place_c(first, cum, k, uniform)
    largest = int(k.max()) if k.shape[0] else 0
    _sort_each_room_c(k, uniform, np.empty(largest), np.empty(largest + 1, dtype=np.int64))
    return uniform


def by_time_within_rooms(first: IntArray, time: FloatArray) -> IntArray:
    """The order ``np.lexsort((time, room))`` gives points grouped by room (room ``r``'s are
    ``first[r]:first[r+1]``): one compiled stable sort per room rather than two over the day."""
    order = np.empty(time.shape[0], dtype=np.int64)
    _by_time_within_rooms_c(first, time, order)
    return order


def recumulate(start: FloatArray, end: FloatArray, cum: FloatArray, k: int) -> None:
    """Recompute ``cum`` (listener-time offsets) in place from session ``k`` on."""
    _recumulate_c(start, end, cum, k)


def day_counts(
    first: IntArray,
    start: FloatArray,
    end: FloatArray,
    weight: FloatArray,
    blocked: IntArray,
) -> tuple[FloatArray, FloatArray, int]:
    """Weighted listener concurrency at every whole minute (``minute_concurrency``), weighted
    joins per hour (``hourly_count`` of the starts, blocked sessions with weight 0) and the
    largest ``ceil(end)``. ``weight`` is per room, ``blocked`` sorted session indices."""
    if start.shape[0] == 0:
        return np.zeros(MINUTES_PER_DAY), np.zeros(24), 0
    size = math.ceil(float(end.max())) + 1
    enter = np.zeros(size)
    leave = np.zeros(size)
    joins = np.zeros(size // 60 + 2)
    top_minute, top_hour = _day_counts_c(first, start, end, weight, blocked, enter, leave, joins)
    length = -(-(int(top_minute) + 1) // MINUTES_PER_DAY) * MINUTES_PER_DAY
    diff = np.zeros(length)
    diff[:size] = enter
    diff[:size] -= leave
    conc = np.cumsum(diff).reshape(-1, MINUTES_PER_DAY).sum(axis=0)
    listeners: FloatArray = np.maximum(conc, 0.0)
    return listeners, fold_hours(joins, int(top_hour)), int(top_minute)


def covering_counts(
    first: IntArray, start: FloatArray, end: FloatArray, minute: int, top_minute: int,
    rooms: IntArray | None = None,
) -> IntArray:
    """Per room, its sessions covering whole minute ``minute`` (``peak_rooms.covering``);
    ``top_minute`` is the largest ``ceil(end)``. With ``rooms`` only those rooms are counted
    (the others read 0): a pass over the sessions of the rooms live then, not of the day."""
    out = np.zeros(first.shape[0] - 1, dtype=np.int64)
    laps = top_minute // MINUTES_PER_DAY + 1 if start.shape[0] else 0
    if rooms is None:
        rooms = np.arange(first.shape[0] - 1, dtype=np.int64)
    _covering_counts_c(first, start, end, minute, laps, rooms.astype(np.int64, copy=False), out)
    return out


def fold_hours(hours: FloatArray, top: int) -> FloatArray:
    """``hourly_count``'s fold of per-hour sums (``top``: largest hour with an event, or -1)
    onto the 24 hours of the day, with numpy's own lengths so the sums are the same."""
    if top < 0:
        return np.zeros(24)
    counts = hours[: max(top + 1, 24)]
    if counts.shape[0] < 24:  # (top < 23 and the buffer shorter than a day)
        counts = np.pad(counts, (0, 24 - counts.shape[0]))
    counts = np.pad(counts, (0, -counts.shape[0] % 24))
    folded: FloatArray = counts.reshape(-1, 24).sum(axis=0)
    return folded


def warm_up() -> float:
    """Load (or, the first time on a machine, compile) this module's kernels now; returns the
    seconds. A process pays this once, at its first sampled day otherwise (about half a second
    with the cache, a few seconds to compile); ``sim.bench`` calls it and
    ``stage_kernel.warm_up`` before its timer and says so."""
    import time

    started = time.perf_counter()
    if ENABLED:
        first = np.array([0, 2], dtype=np.int64)
        one = np.ones(1)
        start, end = np.array([0.25, 0.5]), np.array([1.0, 2.0])
        cum = np.array([0.0, 0.75, 2.25])
        k = np.array([1], dtype=np.int64)
        fill_sessions(first, np.zeros(1), 3.0 * one, np.zeros(1, dtype=np.bool_),
                      np.array([0.5, 0.5]), np.ones(2), np.empty(0))
        points(first, start, end, cum, k, np.array([0.5]))
        points_hourly(first, start, end, cum, k, np.array([0.5]), one)
        recumulate(start, end, cum.copy(), 0)
        by_time_within_rooms(first, np.array([1.0, 0.5]))
        _, _, top = day_counts(first, start, end, one, np.empty(0, dtype=np.int64))
        covering_counts(first, start, end, 1, top)
    return time.perf_counter() - started


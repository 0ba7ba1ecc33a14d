"""A drift-free periodic clock for asyncio: tick k is due at t0 + k * period."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

RESYNC_PERIODS = 5
"""A clock this many periods behind skips the missed ticks instead of bursting through them."""


async def run_ticks(
    period: float,
    on_tick: Callable[[int], None],
    on_late: Callable[[float], None] | None = None,
    on_duration: Callable[[float], None] | None = None,
) -> None:
    """Call ``on_tick(k)`` at t0 + k*period until cancelled.

    A tick that starts more than one period after it was due is reported to ``on_late``
    (with how far behind it was). Tick indices keep counting wall time, so a resync after a
    stall leaves a gap in ``k`` (and in the RTP timestamps derived from it), not drift.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    k = 0
    while True:
        due = start + k * period
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        behind = loop.time() - due
        if behind > period:
            if on_late is not None:
                on_late(behind)
            if behind > RESYNC_PERIODS * period:
                k = int((loop.time() - start) / period)
        began = time.perf_counter()
        on_tick(k)
        if on_duration is not None:
            on_duration(time.perf_counter() - began)
        k += 1

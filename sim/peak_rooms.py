"""The rooms live at a day's busiest minute, each with its own size.

The hourly table keeps sums (live rooms, speakers, listeners); a capacity plan that places
rooms on servers needs each room's size, because one room of 20,000 listeners needs a cascade
where 2,000 rooms of 10 do not. So each sampled day also yields one row per panel room live at
the minute with the most listeners: its listeners and speakers at that minute (a thinned room's
listeners scaled back up) and the weight (real rooms it stands for). Summed with the weights
these rows give that minute's ``listeners`` exactly, the day's largest ``listeners_peak``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sim.room_sessions import MINUTES_PER_DAY

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

PEAK_ROOM_COLUMNS: dict[str, str] = {
    "minute": "the day's minute with the most listeners (UTC)",
    "room": "panel room index of the day",
    "start_min": "when the room started, minutes after 00:00 UTC",
    "listeners": "its listeners connected at that minute (full scale for one room)",
    "speakers": "its people on stage at that minute",
    "weight": "real rooms this panel room stands for",
}


def covering(start: FloatArray, end: FloatArray, minute: int) -> NDArray[np.bool_]:
    """Which intervals cover the whole minute ``minute``, time past midnight folded back: the
    same rule as ``room_sessions.minute_concurrency`` (minute m counts [ceil(start),
    ceil(end)))."""
    lo = np.ceil(start).astype(np.int64)
    hi = np.ceil(end).astype(np.int64)
    found = np.zeros(start.shape[0], dtype=np.bool_)
    laps = int(hi.max()) // MINUTES_PER_DAY + 1 if hi.shape[0] else 0
    for lap in range(laps):
        at = minute + lap * MINUTES_PER_DAY
        found |= (lo <= at) & (at < hi)
    return found


def rooms_at_peak(
    listeners_per_minute: FloatArray,
    room_start: FloatArray,
    room_end: FloatArray,
    weight: FloatArray,
    session: tuple[IntArray, FloatArray, FloatArray, FloatArray]
    | Callable[[int, IntArray], FloatArray],
    speaker: tuple[IntArray, FloatArray, FloatArray],
) -> pd.DataFrame:
    """One row per room live at the day's busiest minute (``PEAK_ROOM_COLUMNS``).

    ``session`` is (room, start, end, scale per room) of the listener sessions after removals,
    or a function of a minute and the rooms live then giving each room's listeners (full scale)
    at that minute (only those rooms' entries are read); ``speaker`` is (room, start, end) of
    the stage seats."""
    minute = int(np.argmax(listeners_per_minute))
    n_rooms = int(room_start.shape[0])
    live = np.flatnonzero(covering(room_start, room_end, minute))
    if callable(session):
        listeners = session(minute, live)
    else:
        s_room, s_start, s_end, scale = session
        here = covering(s_start, s_end, minute)
        listeners = np.bincount(s_room[here], minlength=n_rooms) * scale
    p_room, p_start, p_end = speaker
    on_stage = np.bincount(p_room[covering(p_start, p_end, minute)], minlength=n_rooms)
    return pd.DataFrame(
        {
            "minute": np.full(live.shape[0], minute, dtype=np.int64),
            "room": live.astype(np.int64),
            "start_min": room_start[live],
            "listeners": listeners[live].astype(np.float64),
            "speakers": on_stage[live].astype(np.int64),
            "weight": weight[live],
        },
        columns=list(PEAK_ROOM_COLUMNS),
    )

"""What the swarm's participants heard, per role and room: a tidy table from Locust's stats.

Every figure comes from Locust's merged samples (its percentiles are of all samples, from
every worker), reported under ``BY_ROOM`` as ``figure | role | room`` and, for the row
``all``, under ``AUDIO``. The MOS estimate (``quality.mos_estimate``) takes the row's mean
loss after the playout buffer, its mean loss burst and its median mouth-to-arrival latency
plus the buffer's depth; a row whose listeners timed no marks takes the whole swarm's median.
"""

from __future__ import annotations

import math

import pandas as pd

from loadtests.names import (
    AUDIO,
    BY_ROOM,
    BY_ROOM_SEPARATOR,
    CONCEALED,
    JITTER,
    LOSS,
    LOSS_BURST,
    MOUTH_TO_ARRIVAL,
)
from media_bench.client.quality import PLAYOUT_DEPTH, mos_estimate

ALL = "all"
COLUMNS = ("role", "room", "windows", "loss_pct", "concealed_pct", "mean_burst", "jitter_ms",
           "latency_p50_ms", "latency_p99_ms", "marks", "delay_from", "mos")
"""The table's columns: loss on the network and after the playout buffer (means of the
reporting windows, percent), mean run of concealed packets, jitter (mean of windows),
mouth-to-arrival latency, marks timed, where the MOS's delay came from, the MOS."""


def heard_table(stats: pd.DataFrame) -> pd.DataFrame:
    """One row per (role, room) that reported audio, then the row (all, all); ``stats`` is
    ``swarm.read_stats``'s table."""
    figures: dict[tuple[str, str], dict[str, pd.Series]] = {}
    for _, row in stats[stats["type"] == BY_ROOM].iterrows():
        parts = str(row["name"]).split(BY_ROOM_SEPARATOR)
        if len(parts) == 3:
            name, role, room = parts
            figures.setdefault((role, room), {})[name] = row
    overall = {str(row["name"]): row for _, row in stats[stats["type"] == AUDIO].iterrows()}
    swarm_latency = _get(overall, MOUTH_TO_ARRIVAL, "p50")
    rows = [_heard(role, room, found, swarm_latency)
            for (role, room), found in sorted(figures.items())]
    rows.append(_heard(ALL, ALL, overall, swarm_latency))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _get(found: dict[str, pd.Series], name: str, column: str) -> float:
    row = found.get(name)
    if row is None or not row["requests"]:
        return math.nan
    return float(row[column])


def _heard(role: str, room: str, found: dict[str, pd.Series],
           swarm_latency: float) -> dict[str, object]:
    concealed = _get(found, CONCEALED, "mean") / 10
    latency = _get(found, MOUTH_TO_ARRIVAL, "p50")
    delay_from = "room" if role != ALL else "swarm"
    if math.isnan(latency):
        latency, delay_from = swarm_latency, "swarm"
    if math.isnan(latency):
        latency, delay_from = 0.0, "buffer only"
    mean_burst = _get(found, LOSS_BURST, "mean")
    score = (math.nan if math.isnan(concealed)
             else mos_estimate(concealed / 100, latency / 1000 + PLAYOUT_DEPTH, mean_burst))
    marks = found.get(MOUTH_TO_ARRIVAL)
    losses = found.get(LOSS)
    return {
        "role": role, "room": room,
        "windows": int(losses["requests"]) if losses is not None else 0,
        "loss_pct": _get(found, LOSS, "mean") / 10, "concealed_pct": concealed,
        "mean_burst": mean_burst, "jitter_ms": _get(found, JITTER, "mean"),
        "latency_p50_ms": _get(found, MOUTH_TO_ARRIVAL, "p50"),
        "latency_p99_ms": _get(found, MOUTH_TO_ARRIVAL, "p99"),
        "marks": int(marks["requests"]) if marks is not None else 0,
        "delay_from": delay_from, "mos": score,
    }

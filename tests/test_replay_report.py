"""Planned against achieved: the server's room counts lined up with the plan's, per room and at
the peak; a room that never filled shows as the gap it is."""

from __future__ import annotations

import numpy as np
import pandas as pd

from loadtests.replay_plan import ReplaySpec, over_time, plan_replay, room_of_title, room_title
from loadtests.replay_report import at_peak, chart, describe, headline, shape_table
from sim.rooms import RoomParams
from tests.test_replay_plan import steady_rooms

STARTED_AT = 1_700_000_000.0


def server_samples(planned: pd.DataFrame, lose_room: int | None = None) -> pd.DataFrame:
    """What a server that did exactly as planned (but for ``lose_room``, never joined) lists."""
    rows = planned[planned["room"] != lose_room]
    return pd.DataFrame({"at": STARTED_AT + rows["t_s"], "room_id": rows["room"].astype(str),
                         "title": [room_title(r) for r in rows["room"]],
                         "listeners": rows["listeners"], "speakers": rows["speakers"]})


def test_achieved_as_planned_reads_no_gap_and_a_missing_room_reads_its_audience(tmp_path):
    plan = plan_replay(steady_rooms([30.0, 300.0, 60.0], [2, 3, 1]), RoomParams(),
                       ReplaySpec(users=80, rooms=3, speedup=120.0, seed=1))
    times = np.arange(0.0, plan.duration_s, 0.5)
    planned = over_time(plan, times)
    other = pd.DataFrame({"at": [STARTED_AT + 1.0], "room_id": ["x"], "title": ["a chat"],
                          "listeners": [9], "speakers": [1]})
    exact = shape_table(plan, pd.concat([server_samples(planned), other]), STARTED_AT)
    assert (exact["planned_listeners"] == exact["achieved_listeners"]).all()
    peak = at_peak(plan, exact)
    summary = headline(plan, peak)
    assert summary["mean_room_error"] == 0
    assert summary["planned_listeners"] == summary["achieved_listeners"] == 80 - 6
    assert "median" in describe(summary)

    biggest = int(plan.rooms["listeners_at_peak"].idxmax())
    short = shape_table(plan, server_samples(planned, lose_room=biggest), STARTED_AT)
    missed = headline(plan, at_peak(plan, short))
    assert missed["achieved_biggest"] < missed["planned_biggest"]
    assert missed["mean_room_error"] * 3 == plan.rooms["listeners_at_peak"].max()
    chart(plan, short, at_peak(plan, short), tmp_path / "shape.png")
    assert (tmp_path / "shape.png").stat().st_size > 10_000


def test_a_replayed_rooms_title_names_its_plan_room():
    assert room_of_title(room_title(12)) == 12
    assert room_of_title("replay room x") is None and room_of_title("load test u1") is None

"""`spaces-lab sim sweep`: the grid, its errors (one line, exit 2, nothing written, no cluster
started) and the headline outputs per replication."""

from __future__ import annotations

import pandas as pd
import pytest

from sim import grid, sweep, sweep_outcomes
from spaces_lab.cli import main


def test_grid_points_are_every_combination_in_model_types():
    points = grid.grid_points("baseline", grid.parse_grid(
        ["policy.threshold=100,300", "tickets.store_fee=0.15,0.3,0.5"]))
    assert [p.values for p in points][:4] == [
        {"policy.threshold": 100.0, "tickets.store_fee": 0.15},
        {"policy.threshold": 100.0, "tickets.store_fee": 0.3},
        {"policy.threshold": 100.0, "tickets.store_fee": 0.5},
        {"policy.threshold": 300.0, "tickets.store_fee": 0.15},
    ]
    assert len(points) == 6 and [p.index for p in points] == list(range(6))
    assert points[4].scenario.policy.threshold == 300.0
    assert points[4].scenario.tickets.store_fee == 0.3


def test_grid_keeps_the_set_overrides_at_every_point():
    points = grid.grid_points("baseline", {"policy.threshold": [100, 300]},
                              {"users": {"end": "2021-12-31"}})
    assert {str(p.scenario.users.end) for p in points} == {"2021-12-31"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "policy.nope=1,2"], "unknown key 'policy.nope'"),
        (["--grid", "nope.threshold=1,2"], "unknown key 'nope.threshold'"),
        (["--grid", "threshold=1,2"], "--grid 'threshold': expected table.field"),
        (["--grid", "policy.threshold"], "--grid 'policy.threshold': expected table.field=value"),
        (["--grid", "policy.threshold=100,abc"], "policy.threshold: expected float, got 'abc'"),
        (["--grid", "tickets.store_fee=0.15,3"], "tickets.store_fee: must be in [0, 1]"),
        (["--grid", "policy.threshold=100,,300"], "--grid policy.threshold: empty value"),
        (["--grid", "policy.threshold=100,100.0"], "--grid policy.threshold: a value is given "
                                                   "twice"),
        (["--grid", "policy.threshold=1", "--grid", "policy.threshold=2"],
         "--grid policy.threshold: given twice"),
        (["--grid", "policy.threshold=1,2", "--set", "policy.threshold=3"],
         "--grid policy.threshold: also given with --set"),
        (["--grid", "policy.threshold=1,2", "--set", "rooms.nope=3"], "unknown key 'rooms.nope'"),
        (["--grid", "policy.threshold=1,2", "--scenario", "nope"], "unknown scenario 'nope'"),
        (["--grid", "policy.threshold=1,2", "--reps", "0"], "--reps: must be >= 1"),
        (["--grid", "policy.threshold=1,2", "--scheduler", "tcp://127.0.0.1:1", "--workers",
          "2"], "--workers: only for the local cluster"),
    ],
)
def test_bad_grid_is_one_line_names_the_field_and_starts_nothing(monkeypatch, tmp_path, capsys,
                                                                 args, message):
    def no_cluster(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cluster was started for bad input")

    monkeypatch.setattr(sweep, "dask_client", no_cluster)
    out = tmp_path / "sweep"
    assert main(["sim", "sweep", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert message in err
    assert not out.exists()


def test_grid_is_required(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sim", "sweep"])
    assert exit_.value.code == 2
    assert "--grid" in capsys.readouterr().err


def test_help_explains_the_sweep(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sim", "sweep", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for words in ("--grid", "--scheduler", "--workers", "Dask", "seeded", "summary"):
        assert words in text


def test_an_unreachable_scheduler_is_one_line_and_writes_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", "1s")
    out = tmp_path / "sweep"
    assert main(["sim", "sweep", "--grid", "policy.threshold=300,600", "--scheduler",
                 "tcp://127.0.0.1:9", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--scheduler tcp://127.0.0.1:9: cannot connect" in err
    assert not out.exists()


def test_headline_outputs_per_replication():
    days = pd.to_datetime(["2021-09-30", "2021-10-01", "2021-12-31"])
    users = pd.DataFrame({"rep": 0, "date": days.repeat(2), "segment": ["total", "us"] * 3,
                          "mdau_m": [100.0, 1.0, 200.0, 2.0, 300.0, 3.0]})
    eligibility = pd.DataFrame({"rep": 0, "date": days, "eligible_hosts": [5.0, 6.0, 7.0]})
    rooms = pd.DataFrame({"rep": 0, "date": days, "listeners_peak": [10, 40, 20]})
    revenue = pd.DataFrame({"rep": 0, "date": days, "creator_usd": [1.0, 2.0, 3.0],
                            "twitter_usd": [0.5, 0.5, 0.5]})
    reach = pd.DataFrame({"rep": 0, "date": days,
                          "listeners_share_of_mdau": [0.9, 0.02, 0.04]})
    row = sweep_outcomes.per_replication(users, eligibility, rooms, revenue, reach).iloc[0]
    assert row["mdau_quarter"] == "2021Q4"
    assert row["mdau_last_quarter_m"] == 250.0  # the mean of the last quarter's days
    assert row["eligible_hosts_end"] == 7.0
    assert row["peak_listeners"] == 40.0
    assert row["creator_revenue_usd"] == 6.0 and row["platform_revenue_usd"] == 1.5
    assert row["listeners_share_last_quarter"] == pytest.approx(0.03)  # Q4's days only


def test_bands_per_point_and_outcome():
    outcomes = pd.DataFrame({"policy.threshold": [300.0] * 11 + [600.0] * 11,
                             "rep": list(range(11)) * 2,
                             **{name: [float(v) for v in range(11)] * 2
                                for name in sweep_outcomes.OUTCOMES}})
    outcomes.loc[outcomes["policy.threshold"] == 600.0, "peak_listeners"] += 100
    bands = sweep_outcomes.bands(outcomes, ["policy.threshold"])
    assert len(bands) == 2 * len(sweep_outcomes.OUTCOMES)
    peak = bands[bands["outcome"] == "peak_listeners"].set_index("policy.threshold")
    assert peak.loc[300.0, ["p10", "p50", "p90", "mean", "reps"]].tolist() == [1, 5, 9, 5, 11]
    assert peak.loc[600.0, "p50"] == 105


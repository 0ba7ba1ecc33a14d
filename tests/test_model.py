import numpy as np
import pandas as pd
import pytest

from sim import runner
from sim.model import run_replication
from tests.conftest import small_scenario


@pytest.fixture(scope="module")
def replication(small):
    return run_replication(small, seed=5, rep=0)


def test_same_seed_same_numbers(small, replication):
    again = run_replication(small, seed=5, rep=0)
    for name in ("users", "eligibility", "rooms", "rooms_daily", "revenue", "payouts", "reach"):
        pd.testing.assert_frame_equal(getattr(replication, name), getattr(again, name))


def test_different_seed_different_numbers(small, replication):
    other = run_replication(small, seed=6, rep=0)
    assert not np.allclose(other.users["mdau_m"], replication.users["mdau_m"])


def test_hosts_never_exceed_eligible_or_users(replication):
    e = replication.eligibility
    assert (e["eligible_hosts"] <= e["users"]).all()
    assert (e["active_hosts"] <= e["eligible_hosts"] * 1.000001 + 1e-6).all()
    assert (e["ticket_eligible_hosts"] <= e["active_hosts"] * 1.000001 + 1e-6).all()


def test_policy_phases_in_order(replication):
    e = replication.eligibility.set_index("date")
    assert e.loc["2020-12-16", "phase"] == "before"
    assert e.loc["2020-12-17", "phase"] == "beta"
    assert e.loc["2021-05-03", "phase"] == "threshold"
    assert e.loc["2021-10-21", "phase"] == "open"
    assert e.loc["2020-12-16", "eligible_hosts"] == 0
    assert e.loc["2021-01-10", "eligible_hosts"] == 3000
    assert (e.loc[:"2021-08-25", "ticket_eligible_hosts"] == 0).all()
    assert e.loc["2022-03-01", "ticket_eligible_hosts"] > 0


def test_no_rooms_before_the_beta(replication):
    daily = replication.rooms_daily.set_index("date")
    assert (daily.loc[:"2020-12-16", "rooms_started"] == 0).all()
    assert daily.loc["2021-11-01":, "rooms_started"].mean() > daily.loc[:"2021-04-30",
                                                                      "rooms_started"].mean()


def test_never_more_than_13_speakers(replication):
    assert 1 <= replication.stats["max_speakers"] <= 13


def test_revenue_parties_add_up(replication):
    r = replication.revenue
    np.testing.assert_allclose(r["store_usd"] + r["creator_usd"] + r["twitter_usd"],
                               r["gross_usd"], rtol=1e-9, atol=1e-6)
    assert (r.set_index("date").loc[:"2021-08-25", "gross_usd"] == 0).all()
    assert r["gross_usd"].sum() > 0


def test_store_fee_sensitivity_moves_money_from_store_to_creators():
    base = run_replication(small_scenario(), seed=5, rep=0).revenue.sum(numeric_only=True)
    cheap = run_replication(small_scenario(tickets={"store_fee": 0.15}), seed=5, rep=0)
    cheap_sum = cheap.revenue.sum(numeric_only=True)
    assert cheap_sum["gross_usd"] == pytest.approx(base["gross_usd"])
    assert cheap_sum["store_usd"] < base["store_usd"]
    assert cheap_sum["creator_usd"] > base["creator_usd"]


def test_parallel_and_serial_runs_agree(small):
    serial = runner.run(small, reps=2, seed=3, workers=1, progress=False)
    parallel = runner.run(small, reps=2, seed=3, workers=2, progress=False)
    for name in runner.TABLES:
        pd.testing.assert_frame_equal(serial.tables[name], parallel.tables[name])


def test_run_folder_round_trip(small, tmp_path):
    result = runner.run(small, reps=1, seed=2, workers=1, progress=False)
    path = runner.write(result, tmp_path / "run")
    loaded = runner.load(path)
    for name in runner.TABLES:
        pd.testing.assert_frame_equal(loaded.tables[name], result.tables[name])
    assert loaded.seed == 2 and loaded.scenario is not None
    assert loaded.scenario.hosting.panel_size == small.hosting.panel_size

"""The benchmark's own arithmetic and its tick-cost probe (the load runs are not tests)."""

import math

import pandas as pd
import pytest

from media_bench.client.bench import tick_costs
from media_bench.client.bench_config import BenchConfig
from media_bench.client.report import (
    fitted_listeners_per_core,
    fitted_listeners_per_loadgen_core,
    per_listener,
)


def test_per_listener_cost_is_relative_to_the_design_baseline() -> None:
    rows = pd.DataFrame(
        {
            "design": ["shared"] * 3 + ["naive"] * 2,
            "listeners": [2, 102, 202, 2, 22],
            "server_cores": [0.1, 0.3, 0.5, 0.1, 0.5],
            "server_rss_mb": [100.0, 120.0, 140.0, 100.0, 110.0],
            # 50 packets/s per listener over 10 s windows; two speakers' N-1 streams on top
            "packets_sent": [2000 + 500 * n for n in (2, 102, 202, 2, 22)],
            "seconds": [10.0] * 5,
            "late_ticks": [0, 0, 0, 0, 0],
            "ticks": [500] * 5,
            "tick_shortfall_pct": [0.0] * 5,
            "loss_pct": [0.0] * 5,
        }
    )
    out = per_listener(rows)
    shared = out[out["design"] == "shared"]
    assert math.isnan(shared["listeners_per_core"].iloc[0])
    assert list(shared["listeners_per_core"].iloc[1:].round(6)) == [500.0, 500.0]
    assert list(shared["mb_per_listener"].iloc[1:].round(6)) == [0.2, 0.2]
    assert shared["us_per_listener_packet"].iloc[1] == pytest.approx(40.0)
    naive = out[out["design"] == "naive"]
    assert naive["listeners_per_core"].iloc[1] == pytest.approx(50.0)
    assert fitted_listeners_per_core(out, "shared") == pytest.approx(500.0)
    assert fitted_listeners_per_core(out, "naive") == pytest.approx(50.0)


def test_listeners_per_load_generator_core_is_the_marginal_cost() -> None:
    rows = pd.DataFrame(
        {
            "design": ["direct"] * 4,
            "listeners": [2, 202, 402, 802],
            # 0.05 cores of fixed cost, 1,000 listeners per core; the last point starved
            "loadgen_cores": [0.052, 0.252, 0.452, 0.3],
            "saturated": [False, False, False, True],
        }
    )
    assert fitted_listeners_per_loadgen_core(rows, "direct") == pytest.approx(1000.0)
    assert math.isnan(fitted_listeners_per_loadgen_core(rows, "shared"))


def test_a_point_where_the_server_fell_behind_is_flagged_and_left_out() -> None:
    rows = pd.DataFrame(
        {
            "design": ["shared"] * 3,
            "listeners": [2, 102, 402],
            "server_cores": [0.1, 0.3, 0.5],
            "server_rss_mb": [100.0, 120.0, 180.0],
            "packets_sent": [2000 + 500 * 2, 2000 + 500 * 102, 2000 + 500 * 202],
            "seconds": [10.0] * 3,
            "late_ticks": [0, 0, 200],
            "ticks": [500, 500, 300],
            "tick_shortfall_pct": [0.0, 0.0, 40.0],
            "loss_pct": [0.0, 0.0, 0.0],
        }
    )
    out = per_listener(rows)
    assert list(out["saturated"]) == [False, False, True]
    # Cost per packet actually sent: the starved point does not look cheaper.
    assert out["us_per_listener_packet"].iloc[2] == pytest.approx(40.0)
    assert fitted_listeners_per_core(out, "shared") == pytest.approx(500.0)


def test_tick_cost_covers_1_to_13_speakers() -> None:
    config = BenchConfig.quick()
    config.tick_ticks = 5
    table = tick_costs(config)
    assert list(table["speakers"]) == list(range(1, 14))
    assert (table["p50_ms"] > 0).all() and (table["ticks"] == 5).all()


def test_the_machine_yardstick_times_both_encoder_settings() -> None:
    from media_bench.client.yardstick import codec_reference

    reference = codec_reference(frames=30)
    assert set(reference) == {"opus_encode_c0_us", "opus_encode_c5_us"}
    assert all(5 < us < 20_000 for us in reference.values()), reference

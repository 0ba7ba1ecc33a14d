"""`spaces-lab compare`: ratios, the machine yardstick, noise bands, the chart, the verdict.

Bench and swarm folders are written with the writers their commands use (``RunWriter``, the
summary rows of ``bench``, ``swarm.summarise``); sim folders are two tiny seeded sim runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loadtests import soak, swarm
from loadtests.names import AUDIO, JOIN_TIME, LOSS, MOUTH_TO_ARRIVAL
from media_bench.client.cascade_report import figure_rows
from sim import runner, scenario
from spaces_core.runfolder import MANIFEST, RunWriter, new_run_dir
from spaces_lab.cli import main
from spaces_lab.compare_command import summary_lines

BENCH = {"listeners_per_core": 800.0, "tick_13_ms": 2.0, "arrival_p99_ms": 20.0,
         "loss_pct": 0.0, "latency_listeners": 300.0}


def bench_run(path: Path, yardstick_us: float | None = 100.0, **figures: float) -> Path:
    writer = RunWriter(new_run_dir("bench", path), kind="bench-mixer", parameters={}, seed=0)
    values = {**BENCH, **figures}
    writer.write_table("summary", figure_rows([(k, k, v, "") for k, v in values.items()]))
    if yardstick_us is not None:
        writer.extra["machine_yardstick"] = {"opus_encode_c0_us": yardstick_us,
                                             "opus_encode_c5_us": 2 * yardstick_us}
    writer.finish()
    return path


def compared(tmp_path: Path, *runs: Path) -> tuple[int, pd.DataFrame, Path]:
    out = tmp_path / "cmp"
    code = main(["compare", *map(str, runs), "--out", str(out)])
    return code, pd.read_csv(out / "comparison.csv").set_index("figure"), out


def test_within_the_band_passes_beyond_it_fails(tmp_path: Path, capsys: Any) -> None:
    a = bench_run(tmp_path / "a")
    within = bench_run(tmp_path / "b", listeners_per_core=720.0, arrival_p99_ms=35.0)
    code, table, out = compared(tmp_path, a, within)
    assert code == 0, capsys.readouterr().out
    assert table.loc["listeners_per_core", "ratio"] == pytest.approx(0.9)
    assert table.loc["arrival_p99_ms", "verdict"] == "within noise"  # 20 ms floor
    assert table.loc["latency_listeners", "verdict"] == "info"
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert "verdict: PASS" in capsys.readouterr().out

    worse = bench_run(tmp_path / "c", listeners_per_core=560.0, arrival_p99_ms=45.0)
    out2 = tmp_path / "cmp2"
    assert main(["compare", str(a), str(worse), "--out", str(out2)]) == 1
    table = pd.read_csv(out2 / "comparison.csv").set_index("figure")
    assert table.loc["listeners_per_core", "ratio"] == pytest.approx(0.7)
    assert table.loc["listeners_per_core", "verdict"] == "regressed"
    assert table.loc["arrival_p99_ms", "verdict"] == "regressed"
    assert table.loc["tick_13_ms", "verdict"] == "within noise"
    printed = capsys.readouterr().out
    assert "regressed: listeners_per_core" in printed and "verdict: FAIL" in printed
    assert "yardstick Opus encode 100 us" in printed


def test_the_yardstick_normalises_cpu_figures(tmp_path: Path) -> None:
    """A machine 30% slower serves fewer listeners per core: normalised, that is no
    regression; the same figures without a yardstick are one."""
    a = bench_run(tmp_path / "a")
    slower = {"listeners_per_core": 800 / 1.3, "tick_13_ms": 2.0 * 1.3}
    code, table, _ = compared(tmp_path, a, bench_run(tmp_path / "b", 130.0, **slower))
    assert code == 0
    assert table.loc["listeners_per_core", "ratio"] == pytest.approx(1 / 1.3)
    assert table.loc["listeners_per_core", "normalised_ratio"] == pytest.approx(1.0)
    assert table.loc["tick_13_ms", "normalised_ratio"] == pytest.approx(1.0)
    assert table["yardstick_factor"].isna()["arrival_p99_ms"]  # latency: as measured
    unknown = bench_run(tmp_path / "c", None, **slower)
    assert main(["compare", str(a), str(unknown), "--out", str(tmp_path / "cmp2")]) == 1


def test_the_main_job_names_what_moved_since_the_previous_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    older = bench_run(runs / "bench-1")
    newer = bench_run(runs / "bench-2", listeners_per_core=400.0)
    os.utime(older / MANIFEST, (1_000, 1_000))
    assert summary_lines(older, runs) == []  # nothing before it
    lines = summary_lines(newer, runs)
    assert "against the previous run bench-1: 1 figure(s) beyond the noise band" in lines[0]
    assert "regressed: listeners_per_core 800 -> 400 (0.50x)" in lines[1]


def swarm_run(path: Path, arrival_p99: float, loss_per_mille: float,
              server_mb_per_h: float | None = None) -> Path:
    stats = pd.DataFrame([
        {"type": AUDIO, "name": MOUTH_TO_ARRIVAL, "requests": 50, "failures": 0,
         "p50": 30.0, "p95": arrival_p99 * 0.8, "p99": arrival_p99},
        {"type": AUDIO, "name": JOIN_TIME, "requests": 10, "failures": 0,
         "p50": 50.0, "p95": 70.0, "p99": 80.0},
        {"type": AUDIO, "name": LOSS, "requests": 10, "failures": 0, "mean": loss_per_mille},
        {"type": "", "name": "Aggregated", "requests": 500, "failures": 0},
    ])  # fmt: skip
    metrics = pd.DataFrame([
        {"t_s": t, "metric": "spaces_participants", "labels": "role=listener", "value": 10.0}
        for t in (0.0, 10.0, 20.0)
    ])  # fmt: skip
    writer = RunWriter(new_run_dir("swarm", path), kind="swarm", parameters={}, seed=None)
    writer.extra["summary"] = swarm.summarise(stats, metrics, wall=20.0, loadgen_cpu=4.0,
                                              server_cpu=2.0, duration=20.0)
    if server_mb_per_h is not None:  # a soak: an hour of memory rising at this slope
        t = np.arange(0.0, 3600, 10)
        fits = [soak.fit_memory("server", t, 300 + server_mb_per_h * t / 3600)]
        writer.extra["summary"]["memory"] = soak.summary_of(fits)
    writer.finish()
    return path


def test_swarm_latency_tail_is_judged_by_its_wide_band(tmp_path: Path) -> None:
    a = swarm_run(tmp_path / "a", arrival_p99=60.0, loss_per_mille=0.0)
    code, table, _ = compared(tmp_path, a, swarm_run(tmp_path / "b", 110.0, 2.0))
    assert code == 0  # p99 60 -> 110 ms: within a swarm tail's noise; loss 0.2% within 0.5
    assert table.loc["loss_pct", "value"] == pytest.approx(0.2)
    assert table.loc["listeners_per_server_core", "ratio"] == pytest.approx(1.0)
    out = tmp_path / "cmp2"
    later = swarm_run(tmp_path / "c", 200.0, 20.0)
    assert main(["compare", str(a), str(later), "--out", str(out)]) == 1
    table = pd.read_csv(out / "comparison.csv").set_index("figure")
    assert table.loc["arrival_p99_ms", "verdict"] == "regressed"
    assert table.loc["loss_pct", "verdict"] == "regressed"


def test_a_soak_whose_memory_grows_faster_regressed(tmp_path: Path) -> None:
    a = swarm_run(tmp_path / "a", 60.0, 0.0, server_mb_per_h=2.0)
    code, table, _ = compared(tmp_path, a, swarm_run(tmp_path / "b", 60.0, 0.0, 9.0))
    assert code == 0 and table.loc["server_memory_mb_per_h", "verdict"] == "within noise"
    leaking = swarm_run(tmp_path / "c", 60.0, 0.0, server_mb_per_h=40.0)
    assert main(["compare", str(a), str(leaking), "--out", str(tmp_path / "cmp2")]) == 1


SMALL: dict[str, dict[str, Any]] = {"users": {"end": "2021-12-31"},
         "hosting": {"panel_size": 600, "beta_panel": 20, "room_day_stride": 30}}


def sim_run(path: Path, seed: int, **policy: Any) -> Path:
    chosen = scenario.load("baseline", {**SMALL, "policy": policy})
    return runner.write(runner.run(chosen, reps=2, seed=seed, workers=1, progress=False), path)


def test_sim_runs_change_beyond_their_replication_spread(tmp_path: Path, capsys: Any) -> None:
    a = sim_run(tmp_path / "a", seed=3)
    code, table, _ = compared(tmp_path, a, sim_run(tmp_path / "b", seed=3))
    assert code == 0
    assert (table["ratio"].dropna() == 1.0).all() and len(table) >= 5
    assert "fewer than 4 replications" in capsys.readouterr().out
    never_open = sim_run(tmp_path / "c", seed=3, open_date="2022-06-01")
    out = tmp_path / "cmp2"
    assert main(["compare", str(a), str(never_open), "--out", str(out)]) == 1
    table = pd.read_csv(out / "comparison.csv").set_index("figure")
    assert table.loc["active hosts at end", "verdict"] == "changed"
    assert table["ratio"]["active hosts at end"] < 0.5


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, capsys: Any) -> None:
    bench = bench_run(tmp_path / "bench")
    sw = swarm_run(tmp_path / "swarm", 60.0, 0.0)
    (tmp_path / "empty").mkdir()
    cases = [
        ([str(bench), str(tmp_path / "empty")], "is not a run folder"),
        ([str(bench), str(sw)], "runs of different kinds cannot be compared"),
        ([str(bench)], "give at least two run folders"),
    ]
    for runs, message in cases:
        out = tmp_path / "cmp"
        assert main(["compare", *runs, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and err.count("\n") == 0
        assert not out.exists()

"""Soak: memory sampled per process tree, its growth per hour fitted over the load window, a
leak flagged; a short real swarm records the series and the slope in its run folder."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loadtests import soak
from loadtests.metrics_sampler import RSS_METRIC
from media_bench.client.process_meter import rss_bytes
from spaces_lab.cli import main

RNG = np.random.default_rng(7)


def hours_of_samples(hours: float, every_s: float = 8.0) -> np.ndarray:
    return np.arange(0.0, hours * 3600, every_s)


def test_the_fit_flags_a_growing_series_and_not_a_flat_one() -> None:
    t = hours_of_samples(2)
    noise = RNG.normal(0, 3.0, len(t))
    flat = soak.fit_memory("server", t, 200 + noise)
    growing = soak.fit_memory("server", t, 200 + 30 * t / 3600 + noise)
    assert not flat.leak and flat.judged and abs(flat.slope_mb_per_h) < 2
    assert growing.leak and growing.slope_mb_per_h == pytest.approx(30, abs=2)
    barely = soak.fit_memory("server", t, 200 + 8 * t / 3600 + noise)
    assert not barely.leak  # under the 10 MB/h threshold
    short = t[t < 300]
    steep = soak.fit_memory("server", short, 200 + 500 * short / 3600 + noise[: len(short)])
    assert steep.slope_mb_per_h > 400 and not steep.judged and not steep.leak


def sampler_rows(t: np.ndarray, listeners: np.ndarray, rss_mb: dict[str, np.ndarray]
                 ) -> pd.DataFrame:
    rows = [{"t_s": at, "metric": "spaces_participants", "labels": "role=listener",
             "value": float(n)} for at, n in zip(t, listeners, strict=True)]
    for process, series in rss_mb.items():
        rows += [{"t_s": at, "metric": RSS_METRIC, "labels": f"process={process}",
                  "value": mb * 1e6} for at, mb in zip(t, series, strict=True)]
    return pd.DataFrame(rows)


def test_memory_that_grows_with_joining_users_is_no_leak() -> None:
    """The server's memory rises while 300 listeners join (20 minutes), then holds; the load
    generator's keeps growing 25 MB/h: only the load generator leaks."""
    t = hours_of_samples(1.5)
    ramp = np.clip(t / 1200, 0, 1)
    server = 150 + 60 * ramp + RNG.normal(0, 2, len(t))
    loadgen = 300 + 25 * t / 3600 + RNG.normal(0, 2, len(t))
    metrics = sampler_rows(t, 300 * ramp, {"server": server, "loadgen": loadgen})
    window = soak.load_window(metrics, load_end_s=float(t[-1]))
    up = 0.9 * 1200
    assert window[0] == pytest.approx(up + (t[-1] - up) / 3, abs=8)
    fits = {fit.process: fit for fit in soak.fit_all(soak.memory_series(metrics), window)}
    assert not fits["server"].leak and fits["loadgen"].leak
    whole = soak.fit_memory("server", t, server)  # the ramp counted would read as a leak
    assert whole.leak


def test_memory_of_a_process_tree_counts_its_children() -> None:
    child = textwrap.dedent("""
        import sys
        block = bytearray(80_000_000)
        block[::4096] = b"x" * len(block[::4096])
        print("ready", flush=True)
        sys.stdin.read()
    """)
    parent = textwrap.dedent(f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", {child!r}], stdin=sys.stdin)
        child.wait()
    """)
    process = subprocess.Popen([sys.executable, "-c", parent], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        alone, tree = rss_bytes(process.pid), rss_bytes(process.pid, include_children=True)
        assert tree - alone > 70e6
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_swarm_records_memory_and_its_slope(tmp_path: Path) -> None:
    out = tmp_path / "swarm"
    result = subprocess.run(
        [sys.executable, "-m", "spaces_lab.cli", "swarm", "--users", "6", "--duration", "25",
         "--shape", "none", "--spawn-rate", "3", "--out", str(out), "--max-latency-ms", "5000"],
        capture_output=True, text=True, timeout=280, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    memory = pd.read_parquet(out / "memory.parquet")
    assert set(memory["process"]) == {"server", "loadgen"}
    assert memory.groupby("process")["t_s"].count().min() >= 5
    assert (memory["rss_mb"] > 20).all()
    fits = pd.read_parquet(out / "memory_fit.parquet").set_index("process")
    assert np.isfinite(fits["slope_mb_per_h"]).all() and not fits["judged"].any()
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["summary"]["memory"]) == {"server", "loadgen"}
    assert manifest["machine_yardstick"]["opus_encode_c0_us"] > 0
    assert (out / "memory.png").read_bytes()[:4] == b"\x89PNG"
    assert "server memory" in result.stdout and "not judged" in result.stdout
    # the run compares with itself: every ratio 1, nothing regressed
    assert main(["compare", str(out), str(out), "--out", str(tmp_path / "cmp")]) == 0
    table = pd.read_csv(tmp_path / "cmp" / "comparison.csv")
    assert "server_memory_mb_per_h" not in set(table["figure"])  # a short slope is not judged
    assert (table["ratio"].dropna() == 1.0).all()

"""A sweep on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on
loopback give, number for number, what a local cluster and plain `sim run`s give."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client
from pandas.testing import assert_frame_equal

from sim import api, cache_key, runner, scenario, sweep, sweep_outcomes
from sim.runner import TABLES
from spaces_lab.cli import main

ROOT = Path(__file__).resolve().parent.parent
DASK = Path(sys.executable).with_name("dask")
SMALL = {"users.end": "2021-12-31", "hosting.panel_size": "600", "hosting.beta_panel": "20",
         "hosting.room_day_stride": "30"}
GRID = {"policy.threshold": ["300", "1000"]}
REPS = 2
#: no dashboard; the HTTP endpoints every process still serves stay on loopback, any free port
LOOPBACK_HTTP = ["--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
SEED = 5


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a scheduler with two single-threaded workers, all on 127.0.0.1; the
    workers import this checkout (PYTHONPATH), as a real cluster's workers must."""
    logs = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    address = f"tcp://127.0.0.1:{_free_port()}"
    commands = [
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
         *LOOPBACK_HTTP],
        *([str(DASK), "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
           "--nworkers", "1", *LOOPBACK_HTTP, "--name", f"worker-{n}"] for n in (1, 2)),
    ]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for number, command in enumerate(commands):
            with (logs / f"{number}.log").open("wb") as log:
                processes.append(subprocess.Popen(command, env=env, cwd=logs, stdout=log,
                                                  stderr=subprocess.STDOUT))
            if number == 0:
                time.sleep(1.0)  # let the scheduler bind before the workers dial it
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
            assert len(client.nthreads()) == 2
            assert set(client.nthreads().values()) == {1}
        yield address
    finally:
        _stop(processes)


def _settings(values: dict[str, str]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def _grid_args() -> list[str]:
    return [arg for key, values in GRID.items()
            for arg in ("--grid", f"{key}={','.join(values)}")]


def _overrides() -> dict[str, dict[str, str]]:
    return scenario.parse_overrides(f"{key}={value}" for key, value in SMALL.items())


@pytest.mark.slow
def test_a_sweep_on_a_real_scheduler_equals_local_and_plain_runs(scheduler, tmp_path, capsys):
    on_cluster = tmp_path / "cluster"
    assert main(["sim", "sweep", "--scenario", "baseline", *_grid_args(), *_settings(SMALL),
                 "--reps", str(REPS), "--seed", str(SEED), "--scheduler", scheduler,
                 "--out", str(on_cluster)]) == 0
    assert f"on 2 workers ({scheduler})" in capsys.readouterr().out
    manifest = json.loads((on_cluster / "manifest.json").read_text())
    assert manifest["kind"] == "sweep" and manifest["scheduler"] == scheduler
    assert manifest["grid"] == {"policy.threshold": [300.0, 1000.0]}
    assert manifest["reps"] == REPS and manifest["seed"] == SEED
    assert "distributed" in manifest["versions"]
    assert len({point["cache_key"]["key"] for point in manifest["points"]}) == 2
    pngs = sorted(on_cluster.glob("sweep_*_by_policy_threshold.png"))
    assert len(pngs) == len(sweep_outcomes.OUTCOMES)  # reach among them
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    cluster = sweep.load(on_cluster)
    assert cluster.replication_stats["rep"].tolist() == list(range(REPS)) * 2

    local = api.sweep("baseline", GRID, reps=REPS, seed=SEED, overrides=_overrides(),
                      workers=1, out=tmp_path / "local", progress=False)
    assert local.scheduler != scheduler
    local = sweep.load(tmp_path / "local")
    for name in (*TABLES, "outcomes", "summary"):
        assert_frame_equal(cluster.tables[name], local.tables[name], obj=name)
    assert_frame_equal(cluster.replication_stats.drop(columns="seconds"),
                       local.replication_stats.drop(columns="seconds"))

    plain = scenario.load("baseline", {**_overrides(), "policy": {"threshold": "1000"}})
    runner.write(runner.run(plain, reps=REPS, seed=SEED, workers=1, progress=False),
                 tmp_path / "plain")
    single = runner.load(tmp_path / "plain")
    for name in TABLES:
        rows = cluster.tables[name]
        rows = rows[rows["policy.threshold"] == 1000.0].drop(columns="policy.threshold")
        assert len(rows) == len(single.tables[name]) > 0, name
        assert_frame_equal(rows.reset_index(drop=True), single.tables[name], obj=name)
    at_300 = cluster.rooms[cluster.rooms["policy.threshold"] == 300.0]
    assert not at_300["listeners_peak"].reset_index(drop=True).equals(
        single.rooms["listeners_peak"])  # the grid's other point is another run


@pytest.mark.slow
def test_workers_running_other_code_are_refused(scheduler, monkeypatch, tmp_path, capsys):
    # the workers import the real sim.cache_key; only this process sees another version
    monkeypatch.setattr(cache_key, "__version__", "9.9.9")
    out = tmp_path / "refused"
    assert main(["sim", "sweep", *_grid_args(), *_settings(SMALL), "--reps", "1",
                 "--scheduler", scheduler, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "runs other sim code or data (differing: version)" in err
    assert not out.exists()

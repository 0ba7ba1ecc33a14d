"""The server under test as a child process: started with its options on a free loopback port,
answering once started, stopped with its CPU measured, and a failed start named."""

from __future__ import annotations

import json
import math
import urllib.request
from pathlib import Path

import pytest

from media_bench.client.process_meter import cpu_seconds
from media_bench.client.server_process import ServerProcess


def test_a_server_answers_with_its_options_and_stops(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with ServerProcess(["--host-threshold", "5000"], log=log) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.port > 0
        with urllib.request.urlopen(server.url + "/users?limit=10000") as response:
            users = json.load(response)["users"]
        hosts = [u for u in users if u["can_host"]]
        assert hosts and all(u["followers"] >= 5000 for u in hosts)
        assert any(u["followers"] >= 600 and not u["can_host"] for u in users)
        pid = server.pid
        assert cpu_seconds(pid) > 0
    with pytest.raises(ProcessLookupError):
        cpu_seconds(pid)  # reaped
    assert "listening on" in log.read_text()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


def test_stop_reports_the_cpu_the_server_used() -> None:
    server = ServerProcess()
    server.start()
    used = server.stop()
    assert 0.1 < used < 60  # at least its interpreter start-up and user directory
    assert math.isnan(server.stop())


def test_a_server_that_cannot_start_is_an_error_naming_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with pytest.raises(RuntimeError, match=f"exited with 2; see {log}"):
        ServerProcess(["--bitrate", "1"], log=log).start()
    assert "--bitrate must be between" in log.read_text()

"""`spaces-lab serve` and `spaces-lab bench mixer`: parsing, validation, a real server process."""

import argparse
import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from media_bench.client import bench_command
from media_bench.server import options
from media_bench.server.settings import Settings
from spaces_core.errors import CliError
from spaces_lab.cli import build_parser


def parser() -> argparse.ArgumentParser:
    return build_parser()


def test_serve_and_bench_register_handlers() -> None:
    args = parser().parse_args(["serve", "--port", "9000", "--host-threshold", "100"])
    assert args.handler is options.run_serve and args.port == 9000
    settings = options.settings_from(args)
    assert settings.host_threshold == 100 and settings.bitrate == 32_000
    args = parser().parse_args(["bench", "mixer", "--quick", "--out", "x"])
    assert args.handler is bench_command.run_bench_mixer and args.quick and args.out == Path("x")


def test_limits_reach_the_settings_and_default_to_them() -> None:
    argv = ["serve", "--rate-limit", "5", "--rate-burst", "7", "--event-stall-timeout", "2"]
    settings = options.settings_from(parser().parse_args(argv))
    assert (settings.rate_per_second, settings.rate_burst) == (5.0, 7)
    assert settings.event_stall_timeout == 2.0
    defaults = options.settings_from(parser().parse_args(["serve"]))
    assert defaults.rate_per_second == Settings().rate_per_second
    assert defaults.event_stall_timeout == Settings().event_stall_timeout
    argv = ["serve", "--worker-listeners", "900", "--origin-headroom", "850"]
    placement = options.settings_from(parser().parse_args(argv)).placement
    assert (placement.listeners_per_worker, placement.origin_headroom) == (900.0, 850.0)
    assert defaults.placement == Settings().placement
    assert defaults.event_loop == Settings().event_loop == "asyncio"
    chosen = options.settings_from(parser().parse_args(["serve", "--event-loop", "uvloop"]))
    assert chosen.event_loop == "uvloop"


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["serve", "--port", "70000"], "--port"),
        (["serve", "--bitrate", "10"], "--bitrate"),
        (["serve", "--complexity", "11"], "--complexity"),
        (["serve", "--users", "/no/such/file.csv"], "--users"),
        (["serve", "--token-ttl", "0"], "--token-ttl"),
        (["serve", "--rate-limit", "0"], "--rate-limit"),
        (["serve", "--rate-burst", "0"], "--rate-burst"),
        (["serve", "--event-stall-timeout", "-1"], "--event-stall-timeout"),
        (["bench", "mixer", "--listeners", "ten"], "--listeners"),
        (["bench", "mixer", "--naive-listeners", "0"], "--naive-listeners"),
        (["bench", "mixer", "--window", "0.1"], "--window"),
        (["bench", "mixer", "--designs", "shared,fast"], "--designs"),
        (["bench", "mixer", "--speaker-complexity", "-1"], "--speaker-complexity"),
        (["serve", "--origin-headroom", "-1"], "--origin-headroom"),
        (["serve", "--worker-listeners", "50", "--origin-headroom", "50"], "--origin-headroom"),
        (["bench", "cascade", "--listeners", "0"], "--listeners"),
        (["bench", "cascade", "--room-steps", "ten"], "--room-steps"),
        (["bench", "cascade", "--room-worker-listeners", "20"], "--room-worker-listeners"),
        (["bench", "cascade", "--window", "0.1"], "--window"),
    ],
)
def test_bad_settings_name_the_field(argv: list[str], field: str) -> None:
    args = parser().parse_args(argv)
    with pytest.raises(CliError, match=field):
        args.handler(args)


def test_bad_user_file_is_a_cli_error(tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_text("id,followers\nann,many\n")
    args = parser().parse_args(["serve", "--users", str(users)])
    with pytest.raises(CliError, match="--users"):
        args.handler(args)


@pytest.mark.timeout(60)
def test_serve_runs_a_real_server_until_terminated(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps([{"id": "ann", "followers": 900}]))
    command = [sys.executable, "-m", "media_bench.server", "--port", "0", "--users", str(users)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split("listening on ")[1].strip()
        with urllib.request.urlopen(url + "/users/ann", timeout=10) as response:
            assert json.load(response) == {
                "id": "ann",
                "followers": 900,
                "age": None,
                "hosted_30d": 0,
                "can_host": True,
                "can_host_ticketed": False,
            }
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0

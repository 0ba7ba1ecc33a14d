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


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["serve", "--port", "70000"], "--port"),
        (["serve", "--bitrate", "10"], "--bitrate"),
        (["serve", "--complexity", "11"], "--complexity"),
        (["serve", "--users", "/no/such/file.csv"], "--users"),
        (["serve", "--token-ttl", "0"], "--token-ttl"),
        (["bench", "mixer", "--listeners", "ten"], "--listeners"),
        (["bench", "mixer", "--naive-listeners", "0"], "--naive-listeners"),
        (["bench", "mixer", "--window", "0.1"], "--window"),
        (["bench", "mixer", "--designs", "shared,fast"], "--designs"),
        (["bench", "mixer", "--speaker-complexity", "-1"], "--speaker-complexity"),
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
                "id": "ann", "followers": 900, "age": None, "hosted_30d": 0,
                "can_host": True, "can_host_ticketed": False,
            }
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0

"""The swarm's options are declared once: Locust's parser and ``spaces-lab swarm`` take the same
ones with the same defaults, and the values the swarm parsed reach Locust unchanged. Who can
host is the server's call, not an option."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import textwrap
import urllib.request

from loadtests import session
from loadtests.swarm import LOCUSTFILE
from loadtests.swarm_options import SWARM_OPTIONS, add_swarm_options, locust_flags
from media_bench.client.server_process import ServerProcess
from media_bench.server.settings import Settings
from sim.policy import PolicyParams
from spaces_lab.cli import build_parser


def locust_side() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_swarm_options(parser)
    return parser


def test_spaces_lab_swarm_takes_every_option_with_its_default() -> None:
    args = build_parser().parse_args(["swarm"])
    for option in SWARM_OPTIONS:
        assert getattr(args, option.dest) == option.default, option.flag
    assert not hasattr(args, "host_threshold")


def test_parsed_values_reach_locust_unchanged() -> None:
    given = ["swarm", "--rooms", "3", "--storm-rate", "7.5", "--max-fail-ratio", "0.2",
             "--sim-run", "runs/sim-x", "--probe-every", "0", "--listener-weight", "4"]
    args = build_parser().parse_args(given)
    locust = locust_side().parse_args(locust_flags(args))
    for option in SWARM_OPTIONS:
        assert getattr(locust, option.dest) == getattr(args, option.dest), option.flag
    assert (locust.rooms, locust.storm_rate, locust.sim_run) == (3, 7.5, "runs/sim-x")
    assert locust.max_fail_ratio == 0.2 and locust.probe_every == 0


def test_the_locustfile_adds_the_same_options() -> None:
    # in a subprocess: Locust monkey-patches the process that imports it
    script = textwrap.dedent(f"""
        import importlib.util, json
        from locust import argument_parser
        spec = importlib.util.spec_from_file_location("locustfile", {str(LOCUSTFILE)!r})
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        print(json.dumps(vars(argument_parser.get_parser().parse_args([]))))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    defaults = json.loads(result.stdout.splitlines()[-1])
    for option in SWARM_OPTIONS:
        assert defaults[option.dest] == option.default, option.flag
    assert "host_threshold" not in defaults


def test_the_server_threshold_is_the_simulations() -> None:
    assert Settings().host_threshold == PolicyParams().threshold


def test_hosts_are_whom_the_server_says_can_host_and_no_two_users_share_an_account() -> None:
    with ServerProcess(["--host-threshold", "5000"]) as server:
        with urllib.request.urlopen(server.url + "/users?limit=10000") as response:
            users = json.load(response)["users"]

        async def fetch(process: int) -> session.Directory:
            try:
                session._directories.clear()
                return await session.directory(server.url, process)
            finally:
                await session.close_all()

        first, second = asyncio.run(fetch(0)), asyncio.run(fetch(1))
    expected = [u["id"] for u in users if u["followers"] >= 5000]
    assert expected and first.hosts == expected
    assert first.audience == [u["id"] for u in users if u["followers"] < 5000]
    # a listener signed in as a host would join the host's room as the host (refused) and
    # leave it in the host's name: the swarm hands out a host's account to nobody else
    hosts = {first.host_id() for _ in range(len(first.hosts))}
    listeners = [first.audience_id() for _ in range(len(first.audience))]
    assert hosts == set(expected) and len(set(listeners)) == len(first.audience)
    assert not hosts & set(listeners)
    # two load processes: a thousand sign-ins each, no account shared
    theirs = {second.audience_id() for _ in range(1000)}
    assert not theirs & set(listeners[:1000])

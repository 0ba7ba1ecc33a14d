"""Locust swarm of real WebRTC clients against a Spaces Lab server.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080           # web UI
    locust -f loadtests/locustfile.py --host ... --headless -u 60 -r 10 -t 60s --csv out
    locust -f loadtests/locustfile.py,loadtests/shape_storm.py --host ...    # with a load shape
    locust -f loadtests/locustfile.py --host ... --processes 2               # one worker per core

Start a server first (``spaces-lab serve``), or let ``spaces-lab swarm`` do all of it.
Hosts are spawned first (``--rooms`` of them, one room each); speakers and listeners join the
live rooms; hosts are users the server says can host. The run fails (exit code 1) when packet
loss, mark latency or the failure ratio exceed their thresholds (``--max-loss-pct`` etc.; all
options are in ``swarm_options``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from locust import events
from locust.runners import MasterRunner, WorkerRunner

from loadtests import bridge, session
from loadtests.names import AUDIO, EXCEEDED, UNCHECKED
from loadtests.samples import SampleLog
from loadtests.swarm_options import add_swarm_options
from loadtests.thresholds import unchecked, verdict
from loadtests.users import HostUser, ListenerUser, SpeakerUser

__all__ = ["HostUser", "ListenerUser", "SpeakerUser"]


@events.init_command_line_parser.add_listener
def add_arguments(parser: Any) -> None:
    add_swarm_options(parser)


@events.init.add_listener
def configure(environment: Any, **_: Any) -> None:
    # aioice logs every candidate pair of every join at INFO: thousands of lines a swarm
    logging.getLogger("aioice").setLevel(logging.WARNING)
    # shape_sim_hour.py, when loaded after this file, replaces these with the sim's mix
    options = environment.parsed_options
    if options is None:
        return
    HostUser.fixed_count = options.rooms
    SpeakerUser.weight = options.speaker_weight
    ListenerUser.weight = options.listener_weight


@events.user_error.add_listener
def count_user_errors(user_instance: Any, exception: Exception, tb: Any, **_: Any) -> None:
    """An exception escaping a user (e.g. in on_start) is a failed request, so thresholds and
    the failure count see it, not only the log."""
    events.request.fire(request_type="USER", name=f"error in {type(user_instance).__name__}",
                        response_time=0, response_length=0, exception=exception, context={})


_samples = SampleLog()


@events.request.add_listener
def keep_audio_sample(request_type: str, name: str, response_time: float, **_: Any) -> None:
    if request_type == AUDIO:
        _samples.add(name, response_time)


@events.quitting.add_listener
def write_audio_samples(environment: Any, **_: Any) -> None:
    # every process that ran users writes its file, even empty: the swarm waits for them all
    folder = getattr(environment.parsed_options, "samples_dir", "")
    if folder and not isinstance(environment.runner, MasterRunner):
        _samples.write(Path(folder))


@events.test_stop.add_listener
def close_clients(environment: Any, **_: Any) -> None:
    if bridge.started():
        bridge.run(session.close_all(), timeout=10)


@events.quitting.add_listener
def judge(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    problems = verdict(environment.stats, environment.parsed_options)
    for problem in problems:
        print(f"{EXCEEDED}: {problem}")
    for missing in unchecked(environment.stats, environment.parsed_options):
        print(f"{UNCHECKED}: {missing}")
    if problems:
        environment.process_exit_code = 1

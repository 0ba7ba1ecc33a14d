"""Locust swarm of real WebRTC clients against a Spaces Lab server.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080           # web UI
    locust -f loadtests/locustfile.py --host ... --headless -u 60 -r 10 -t 60s --csv out
    locust -f loadtests/locustfile.py,loadtests/shape_storm.py --host ...    # with a load shape
    locust -f loadtests/locustfile.py --host ... --processes 2               # one worker per core

Start a server first (``spaces-lab serve``), or let ``spaces-lab swarm`` do all of it.
Hosts are spawned first (``--rooms`` of them, one room each); speakers and listeners join the
live rooms. The run fails (exit code 1) when packet loss, mark latency or the failure ratio
exceed the thresholds below.
"""

from __future__ import annotations

import logging
from typing import Any

from locust import events
from locust.runners import WorkerRunner

from loadtests import bridge, session
from loadtests.names import EXCEEDED, FULL_PROBE_EVERY, PROBE_EVERY, UNCHECKED
from loadtests.thresholds import unchecked, verdict
from loadtests.users import HostUser, ListenerUser, SpeakerUser

__all__ = ["HostUser", "ListenerUser", "SpeakerUser"]


@events.init_command_line_parser.add_listener
def add_arguments(parser: Any) -> None:
    group = parser
    group.add_argument("--rooms", type=int, default=2,
                       help="hosts to spawn, one room each (default 2)")
    group.add_argument("--speaker-weight", type=int, default=1,
                       help="relative share of speaker users (default 1)")
    group.add_argument("--listener-weight", type=int, default=10,
                       help="relative share of listener users (default 10)")
    group.add_argument("--ticketed-share", type=float, default=0.25,
                       help="share of rooms that sell tickets (default 0.25)")
    group.add_argument("--ticket-cap", type=int, default=1000,
                       help="tickets per ticketed room (default 1000)")
    group.add_argument("--invite-share", type=float, default=0.5,
                       help="chance a host's invitation turn invites a listener to speak "
                            "(default 0.5)")
    group.add_argument("--remove-share", type=float, default=0.2,
                       help="chance a host's moderation turn removes a listener (default 0.2)")
    group.add_argument("--host-threshold", type=int, default=600,
                       help="followers the server requires to host (default 600)")
    group.add_argument("--probe-every", type=int, default=PROBE_EVERY,
                       help="every Nth listener decodes on arrival to time marks, the "
                            f"first one included (default {PROBE_EVERY}; 0: none)")
    group.add_argument("--full-probe-every", type=int, default=FULL_PROBE_EVERY,
                       help="every Nth listener runs aiortc's full receive path "
                            f"(default {FULL_PROBE_EVERY}; 0: none)")
    group.add_argument("--storm-rate", type=float, default=20.0,
                       help="join storm shape: joins per second in the storm (default 20)")
    group.add_argument("--sim-run", default="",
                       help="sim-hour shape: sim run folder (default: newest under runs/)")
    group.add_argument("--max-loss-pct", type=float, default=1.0,
                       help="fail the run above this mean packet loss, percent (default 1)")
    group.add_argument("--max-latency-ms", type=float, default=150.0,
                       help="fail above this p99 mouth-to-arrival latency, ms (default 150)")
    group.add_argument("--max-fail-ratio", type=float, default=0.01,
                       help="fail above this share of failed requests (default 0.01)")


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

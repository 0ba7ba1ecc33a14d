"""The swarm's own options, declared once: the locustfile adds them to Locust's parser,
``spaces-lab swarm`` to its own, and the swarm hands the parsed values back to Locust as flags.

Kept free of Locust imports, like ``names``, so the CLI can read them without Locust
monkey-patching its process.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from loadtests.names import FULL_PROBE_EVERY, PROBE_EVERY
from media_bench.client.impairment_spec import NONE
from media_bench.client.quality import ROOM_ARRIVAL_P99_MS
from media_bench.client.targets import OURS, TARGETS, target_help


@dataclass(frozen=True)
class SwarmOption:
    """One command-line option; ``{default}`` in ``help`` is replaced by the default."""

    flag: str
    type: Callable[[str], Any]
    default: Any
    help: str

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def add_to(self, parser: Any) -> None:
        """Add to an argparse parser (Locust's is one too)."""
        parser.add_argument(self.flag, type=self.type, default=self.default,
                            help=self.help.format(default=self.default))


def target_name(text: str) -> str:
    if text not in TARGETS:
        raise argparse.ArgumentTypeError(f"{text!r}: must be one of {', '.join(TARGETS)}")
    return text


SWARM_OPTIONS: tuple[SwarmOption, ...] = (
    SwarmOption("--target", target_name, OURS,
                "server under test (default {default}); " + target_help()
                + " (Janus: installed with apt when missing, run in a network namespace, "
                "needs root; its users skip what Janus has no API for: tickets, requests to "
                "speak, invitations, messages, room events)"),
    SwarmOption("--rooms", int, 2,
                "hosts to spawn, one room each (default {default}; the sim-hour shape: see "
                "--replay-rooms)"),
    SwarmOption("--speaker-weight", int, 1, "relative share of speaker users (default {default})"),
    SwarmOption("--listener-weight", int, 10,
                "relative share of listener users (default {default})"),
    SwarmOption("--ticketed-share", float, 0.25,
                "share of rooms that sell tickets (default {default})"),
    SwarmOption("--ticket-cap", int, 1000, "tickets per ticketed room (default {default})"),
    SwarmOption("--invite-share", float, 0.5,
                "chance a host's invitation turn invites a listener to speak (default {default})"),
    SwarmOption("--remove-share", float, 0.2,
                "chance a host's moderation turn removes a listener (default {default})"),
    SwarmOption("--probe-every", int, PROBE_EVERY,
                "every Nth listener decodes on arrival to time the marks, the first one "
                "included (default {default}; 0: none)"),
    SwarmOption("--full-probe-every", int, FULL_PROBE_EVERY,
                "every Nth listener runs aiortc's whole receive path to time mouth-to-ear "
                "(default {default}; 0: none)"),
    SwarmOption("--storm-rate", float, 20.0,
                "join storm shape: joins per second in the storm (default {default})"),
    SwarmOption("--sim-run", str, "",
                "sim-hour shape: sim run folder whose peak hour is replayed (default: newest "
                "under runs/)"),
    SwarmOption("--speedup", float, 0.0,
                "sim-hour shape: the hour replayed this many times faster, e.g. 60: the hour "
                "in a minute; sets the run's length (default {default}: the hour in the run's "
                "length)"),
    SwarmOption("--replay-rooms", int, 0,
                "sim-hour shape: rooms replayed (default {default}: the sim's ratio of rooms "
                "to people at the peak, at least 3 unless their stages would take over half "
                "of --users)"),
    SwarmOption("--seed", int, 1, "sim-hour shape: seed of the replay plan (default {default})"),
    SwarmOption("--max-loss-pct", float, 1.0,
                "fail the run above this mean packet loss, percent (default {default})"),
    SwarmOption("--max-latency-ms", float, ROOM_ARRIVAL_P99_MS,
                "fail above this p99 mouth-to-arrival latency, ms (default {default})"),
    SwarmOption("--max-fail-ratio", float, 0.01,
                "fail above this share of failed requests (default {default})"),
    SwarmOption("--impair", str, NONE,
                "a bad network on every peer's media path, both ways, e.g. "
                "loss=2%%,delay=40ms,jitter=10ms; burst=N makes losses come in runs of N "
                "packets on average (Gilbert-Elliott); seeded, in user space (default "
                "{default}: a perfect loopback)"),
    SwarmOption("--impair-uplink", str, "",
                "instead of --impair, on what each peer sends (the speakers' voices on their "
                "way to the server); same form"),
    SwarmOption("--impair-downlink", str, "",
                "instead of --impair, on what each peer receives (the room mix on its way to "
                "the listeners, each speaker's mix of the others); same form"),
    SwarmOption("--impair-seed", int, 1,
                "seed of every peer's impairment stage: the same seed drops the same packets "
                "(default {default})"),
    SwarmOption("--samples-dir", str, "",
                "folder where each load process writes every audio figure it reported, raw "
                "(default: samples/ in the run folder)"),
)
IMPAIRMENT_OPTIONS = ("--impair", "--impair-uplink", "--impair-downlink")
"""Options that take an impairment spec (``impairment_spec``)."""


def add_swarm_options(parser: Any, options: Iterable[SwarmOption] = SWARM_OPTIONS) -> None:
    for option in options:
        option.add_to(parser)


def locust_flags(
    values: argparse.Namespace, options: Iterable[SwarmOption] = SWARM_OPTIONS
) -> list[str]:
    """Every option's flag and parsed value, for Locust's command line (explicit even at the
    default, so a Locust configuration file cannot override what the swarm was given)."""
    flags: list[str] = []
    for option in options:
        flags += [option.flag, str(getattr(values, option.dest))]
    return flags

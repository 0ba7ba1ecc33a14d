"""Which bad network each simulated user's peer gets, from the swarm's ``--impair`` options
(free of Locust imports, so the CLI and tests can use it without Locust patching them)."""

from __future__ import annotations

import argparse
from typing import Any

from loadtests.swarm_options import IMPAIRMENT_OPTIONS, SWARM_OPTIONS
from media_bench.client.impairment import PeerImpairment
from media_bench.client.impairment_spec import (
    Impairment,
    ImpairmentSpecError,
    parse_impairment,
)
from spaces_core.errors import CliError


def check_impairment_options(args: argparse.Namespace) -> None:
    """Raise a one-line :class:`CliError` naming the option and the bad field."""
    dests = {option.flag: option.dest for option in SWARM_OPTIONS}
    for flag in IMPAIRMENT_OPTIONS:
        try:
            parse_impairment(getattr(args, dests[flag]))
        except ImpairmentSpecError as error:
            raise CliError(f"{flag}: {error}") from None


def directions(options: Any) -> tuple[Impairment, Impairment]:
    """(uplink, downlink): ``--impair-uplink``/``--impair-downlink`` where given, else
    ``--impair``."""
    both = parse_impairment(options.impair)
    uplink, downlink = options.impair_uplink, options.impair_downlink
    return (parse_impairment(uplink) if uplink else both,
            parse_impairment(downlink) if downlink else both)


def peer_impairment(options: Any, peer: str) -> PeerImpairment | None:
    """The impairment of one peer, seeded from ``--impair-seed`` and ``peer`` (a name unique
    in the process, e.g. its role and number); None on a perfect network."""
    uplink, downlink = directions(options)
    if not (uplink.active or downlink.active):
        return None
    return PeerImpairment(uplink, downlink, seed=f"{options.impair_seed}/{peer}")


"""Projected peak hour: the room / speaker / listener mix of a sim run's busiest hour, scaled
down to ``-u`` users, ramped up over the first 20% of ``-t`` and held.

    locust -f loadtests/locustfile.py,loadtests/shape_sim_hour.py --sim-run runs/sim-... \\
        --headless -u 60 -t 90s --host ...

Hosts (one room each) are Locust's fixed-count users, so the share of rooms is exact; speakers
and listeners share the rest by weight.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from locust import events

from loadtests import mix
from loadtests.shape_base import TimedShape
from loadtests.users import HostUser, ListenerUser, SpeakerUser


@events.init.add_listener
def apply_mix(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    hour = mix.from_run(Path(options.sim_run) if options.sim_run else None)
    hosts, speakers, listeners = hour.scaled(int(options.num_users or 30))
    HostUser.fixed_count = hosts
    SpeakerUser.weight = speakers
    ListenerUser.weight = listeners
    print(f"sim peak hour {hour.date} {hour.hour:02d}:00 UTC from {hour.source}: "
          f"{hour.rooms:,.0f} rooms, {hour.speakers:,.0f} speakers, {hour.listeners:,.0f} "
          f"listeners -> {hosts} hosts, {speakers} speakers, {listeners} listeners")


class SimPeakHourShape(TimedShape):
    ramp_share = 0.2

    def plan(self, elapsed: float, duration: float, users: int, options: Any
             ) -> tuple[int, float]:
        return users, max(users / max(duration * self.ramp_share, 1.0), 1.0)

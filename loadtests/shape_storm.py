"""Join storm: hosts and a few listeners for the first third of ``-t``, then every other user
joins at once at ``--storm-rate`` joins per second; join time is what to watch.

    locust -f loadtests/locustfile.py,loadtests/shape_storm.py --headless -u 80 -t 60s --host ...
"""

from __future__ import annotations

from typing import Any

from loadtests.shape_base import TimedShape


class JoinStormShape(TimedShape):
    calm_share = 1 / 3

    def plan(self, elapsed: float, duration: float, users: int, options: Any
             ) -> tuple[int, float]:
        if elapsed < duration * self.calm_share:
            return min(users, options.rooms + 2), 2.0
        return users, float(options.storm_rate)

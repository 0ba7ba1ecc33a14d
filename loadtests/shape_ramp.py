"""Ramp: users grow linearly to ``-u`` over the first 60% of ``-t``, then hold.

    locust -f loadtests/locustfile.py,loadtests/shape_ramp.py --headless -u 60 -t 90s --host ...
"""

from __future__ import annotations

from typing import Any

from loadtests.shape_base import TimedShape


class RampShape(TimedShape):
    ramp_share = 0.6

    def plan(self, elapsed: float, duration: float, users: int, options: Any
             ) -> tuple[int, float]:
        ramp = max(duration * self.ramp_share, 1.0)
        target = max(options.rooms + 1, round(users * min(elapsed / ramp, 1.0)))
        return min(target, users), max(users / ramp, 1.0)

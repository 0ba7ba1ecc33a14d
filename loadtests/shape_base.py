"""A load shape bounded by ``-t``: subclasses say how many users to run at each moment."""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape


class TimedShape(LoadTestShape):
    """Stops at ``--run-time`` (60 s if unset); ``plan`` gives (users, spawn rate) before."""

    abstract = True

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        options = self.runner.environment.parsed_options
        assert options is not None
        duration = float(options.run_time or 60)
        elapsed = self.get_run_time()
        if elapsed >= duration:
            return None
        return self.plan(elapsed, duration, int(options.num_users or 30), options)

    def plan(self, elapsed: float, duration: float, users: int, options: Any
             ) -> tuple[int, float]:
        raise NotImplementedError

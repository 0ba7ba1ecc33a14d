"""Projected peak hour, replayed: a sim run's busiest hour room by room (``replay_plan``):
heavy-tailed audiences scaled to ``-u`` people at the peak, rooms opening and closing through
the hour, listeners arriving and leaving with the sim's session lengths, requests to speak,
invitations, removals and messages at the sim's rates, all ``--speedup`` times faster.

    locust -f loadtests/locustfile.py,loadtests/shape_sim_hour.py --sim-run runs/sim-... \\
        --headless -u 60 --speedup 120 -t 60s --host ...

Every Locust user is a seat of the plan (``replay_users``): the shape runs as many users as the
plan has seats and stops when the hour is over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from locust import LoadTestShape, User, events
from locust.runners import WorkerRunner

from loadtests import replay_plan
from loadtests.replay_plan import REPLAY_TAIL_S, ReplaySpec, speedup_for
from loadtests.replay_users import Replay, ReplayUser

__all__ = ["ReplayUser", "SimPeakHourShape"]


@events.init.add_listener
def load_plan(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    spec = ReplaySpec(users=int(options.num_users or 30), rooms=options.replay_rooms,
                      speedup=speedup_for(options.speedup, float(options.run_time or 60)),
                      seed=options.seed)
    plan = replay_plan.from_run(Path(options.sim_run) if options.sim_run else None, spec)
    Replay.load(plan)
    if not isinstance(environment.runner, WorkerRunner):
        print(f"sim peak hour from {plan.source}, replayed {spec.speedup:g}x faster: "
              f"{plan.headline()}", flush=True)


class SimPeakHourShape(LoadTestShape):
    def tick(self) -> tuple[int, float, list[type[User]]] | None:
        plan = Replay.plan
        assert plan is not None
        if self.get_run_time() >= plan.duration_s + REPLAY_TAIL_S:
            return None
        seats = int(plan.sessions["seat"].max()) + 1
        # as many users on every worker process (``Replay.next_seat`` deals the seats round)
        workers = max(int(getattr(self.runner, "worker_count", 1) or 1), 1)
        users = -(-seats // workers) * workers
        return users, max(users / 2.0, 5.0), [ReplayUser]

"""One replication of the whole model, 2019-2023, as SimPy processes.

The replication's clock counts days from the horizon's start. A *policy* process fires at the
published dates (beta, follower threshold, open to all, Ticketed Spaces launch) and changes
who may host; a *daily* process runs at noon each day: it reads the day's mDAU, lets the host
panel decide who hosts, sells tickets and splits the revenue, and on sampled days hands that
day's rooms to the room-level simulation (``sim.rooms``), which runs them event by event.

What is event by event and what is computed:
- SimPy events: policy dates, each day's hosting step, and on sampled days every room (start,
  a process per room: requests taken, invitations, removals, speakers on its 13 seats).
- Computed (vectorised): mDAU paths, eligible hosts from the follower distribution, the
  panel's daily hosting draws and 30-day histories, ticket sales and splits, listener sessions.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim import followers as follower_model
from sim import hosts, reach, revenue, rooms
from sim.diffusion import bass_adopted
from sim.novelty import listening_level
from sim.rules.tickets import can_host_ticketed
from sim.scenario import Scenario
from sim.users import simulate_users

STREAMS = ("users", "panel", "hosting", "tickets", "rooms")


@dataclass
class PolicyState:
    """What the policy process has switched on so far."""

    threshold: float | None = None
    ticketing: bool = False


@dataclass
class Replication:
    """Tidy tables of one replication (``rep`` column added by the runner)."""

    users: pd.DataFrame
    eligibility: pd.DataFrame
    rooms: pd.DataFrame
    rooms_daily: pd.DataFrame
    revenue: pd.DataFrame
    payouts: pd.DataFrame
    reach: pd.DataFrame
    peak_rooms: pd.DataFrame
    """Each sampled day's rooms live at its busiest minute, with their sizes."""
    stats: dict[str, float] = field(default_factory=dict)


def _policy_timeline(env: simpy.Environment, start: date, scenario: Scenario,
                     state: PolicyState) -> Generator[simpy.Event, Any, None]:
    policy = scenario.policy
    changes = sorted(
        [
            (policy.beta_start, "threshold"),
            (policy.threshold_date, "threshold"),
            (policy.open_date, "threshold"),
            (scenario.tickets.launch, "ticketing"),
        ]
    )
    for day, what in changes:
        offset = (day - start).days
        if offset > env.now:
            yield env.timeout(offset - env.now)
        if what == "threshold":
            state.threshold = policy.threshold_on(day)
        else:
            state.ticketing = True


class _Day:
    """The daily step: hosting draws, ticket sales and the sampled days' room simulation."""

    def __init__(self, scenario: Scenario, users: pd.DataFrame,
                 streams: dict[str, np.random.Generator]) -> None:
        self.scenario = scenario
        self.users_m = users["total"].to_numpy()
        self.days = pd.DatetimeIndex(users["date"])
        self.streams = streams
        self.followers = follower_model.fitted()
        policy, hosting = scenario.policy, scenario.hosting
        self.cap = hosts.adoption_cap(hosting, policy, scenario.users.end)
        self.panel = hosts.build_panel(self.followers, hosting, policy,
                                       scenario.tickets.adult_share, self.cap, streams["panel"])
        self.lifetime = np.zeros(self.panel.size)
        self.ticketed_count = np.zeros(self.panel.size, dtype=np.int64)
        self.crossed_on: dict[int, date] = {}
        self.eligibility: list[dict[str, Any]] = []
        self.daily: list[dict[str, Any]] = []
        self.money: list[dict[str, Any]] = []
        self.reach: list[dict[str, Any]] = []
        self.hourly: list[pd.DataFrame] = []
        self.peak_rooms: list[pd.DataFrame] = []
        self.sessions = 0
        self.room_events = 0
        self.max_speakers = 0

    def run(self, env: simpy.Environment, state: PolicyState
            ) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(0.5)
        for index, day in enumerate(self.days):
            self.step(index, day.date(), state)
            yield env.timeout(1.0)

    def step(self, index: int, day: date, state: PolicyState) -> None:
        scenario, panel = self.scenario, self.panel
        users = float(self.users_m[index]) * 1e6
        threshold = state.threshold
        eligible_real = hosts.eligible_hosts(users, threshold, self.followers,
                                             scenario.policy.beta_testers)
        weights = panel.weights(users)
        years = (day - scenario.policy.beta_start).days / 365.25
        adopted_share = float(bass_adopted(years, scenario.hosting.bass_p,
                                           scenario.hosting.bass_q)) if years > 0 else 0.0
        active = hosts.eligible_mask(panel, threshold) & (panel.adopt_at <= adopted_share)
        ticket_ok = (
            state.ticketing
            & can_host_ticketed(panel.followers, panel.adult, panel.hosted_30d, scenario.tickets)
            & active
        )
        hosting_today = active & (self.streams["hosting"].random(panel.size) < panel.host_prob)
        panel.record_day(index, hosting_today)
        ids = np.flatnonzero(hosting_today)
        room_rng = self.streams["rooms"]
        audience = rooms.draw_audience(panel.followers[ids], scenario.rooms, room_rng)
        audience *= listening_level(day, scenario.spaces)
        ticketed = ticket_ok[ids] & (
            self.streams["tickets"].random(len(ids)) < scenario.tickets.ticketed_share
        )
        sold = self._sell(day, ids[ticketed], audience[ticketed], weights)
        audience[ticketed] = sold
        sampled = bool(threshold is not None
                       and (day - scenario.policy.beta_start).days
                       % scenario.hosting.room_day_stride == 0)
        if sampled and len(ids):
            self._simulate_rooms(day, ids, audience, weights[ids], ticketed)
        self.reach.append({
            "date": day,
            **reach.day_reach(audience, ticketed, weights[ids], users, scenario.rooms),
        })
        self.eligibility.append({
            "date": day,
            "phase": _phase(threshold),
            "threshold": np.nan if threshold is None else threshold,
            "users": users,
            "eligible_hosts": eligible_real,
            "active_hosts": float(weights[active].sum()),
            "ticket_eligible_hosts": float(weights[ticket_ok].sum()),
        })
        self.daily.append({
            "date": day,
            "rooms_started": float(weights[ids].sum()),
            "ticketed_rooms": float(weights[ids[ticketed]].sum()),
            "tickets_sold": float((weights[ids[ticketed]] * sold).sum()),
            "sampled": sampled,
        })

    def _sell(self, day: date, ids: np.ndarray, audience: np.ndarray, weights: np.ndarray
              ) -> np.ndarray:
        params = self.scenario.tickets
        sales = revenue.sell(audience, params, self.streams["tickets"])
        shares = revenue.split(sales.gross, self.lifetime[ids], params)
        before = self.lifetime[ids].copy()
        self.lifetime[ids] += shares.creator
        self.ticketed_count[ids] += 1
        for host in ids[(before < params.lifetime_threshold_usd)
                        & (self.lifetime[ids] >= params.lifetime_threshold_usd)]:
            self.crossed_on[int(host)] = day
        w = weights[ids]
        self.money.append({
            "date": day,
            "gross_usd": float((w * sales.gross).sum()),
            "store_usd": float((w * shares.store).sum()),
            "creator_usd": float((w * shares.creator).sum()),
            "twitter_usd": float((w * shares.twitter).sum()),
        })
        return sales.sold.astype(float)

    def _simulate_rooms(self, day: date, ids: np.ndarray, audience: np.ndarray,
                        weights: np.ndarray, ticketed: np.ndarray) -> None:
        start, duration = rooms.draw_schedule(len(ids), self.scenario.rooms, self.streams["rooms"])
        batch = rooms.DayRooms(host_id=ids.astype(np.int64), start_min=start,
                               duration_min=duration, audience=audience, weight=weights,
                               ticketed=ticketed)
        result = rooms.simulate_day(batch, self.scenario.rooms, self.streams["rooms"])
        hourly = result.hourly.copy()
        hourly.insert(0, "date", day)
        self.hourly.append(hourly)
        peak_rooms = result.peak_rooms.copy()
        peak_rooms.insert(0, "date", day)
        self.peak_rooms.append(peak_rooms)
        self.sessions += result.sessions
        self.room_events += result.events
        self.max_speakers = max(self.max_speakers, result.max_speakers)

    def payouts(self) -> pd.DataFrame:
        paid = np.flatnonzero(self.ticketed_count > 0)
        last_users = float(self.users_m[-1]) * 1e6
        return pd.DataFrame({
            "host_id": paid,
            "followers": np.rint(self.panel.followers[paid]).astype(np.int64),
            "weight": self.panel.weights(last_users)[paid],
            "ticketed_rooms": self.ticketed_count[paid],
            "creator_lifetime_usd": self.lifetime[paid],
            "crossed_threshold_on": pd.to_datetime(
                pd.Series([self.crossed_on.get(int(h)) for h in paid], dtype=object)
            ).astype("datetime64[ns]"),
        })


def _phase(threshold: float | None) -> str:
    if threshold is None:
        return "before"
    if threshold == float("inf"):
        return "beta"
    return "threshold" if threshold > 0 else "open"


def streams_for(seed: int, rep: int) -> dict[str, np.random.Generator]:
    """Independent random streams per part of the model, so changing one part's parameters
    leaves the others' draws alone; the same (seed, rep) always gives the same streams."""
    children = np.random.SeedSequence([seed, rep]).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children,
                                                                       strict=True)}


def run_replication(scenario: Scenario, seed: int, rep: int) -> Replication:
    """Run one replication; every table gets a ``rep`` column."""
    started = time.perf_counter()
    streams = streams_for(seed, rep)
    users = simulate_users(scenario.users, scenario.spaces, streams["users"])
    env = simpy.Environment()
    state = PolicyState()
    start = scenario.users.start
    day = _Day(scenario, users, streams)
    env.process(_policy_timeline(env, start, scenario, state))
    env.process(day.run(env, state))
    env.run(until=len(users) + 1)
    tables = Replication(
        users=users.melt(id_vars="date", value_vars=["us", "intl", "total"],
                         var_name="segment", value_name="mdau_m"),
        eligibility=pd.DataFrame(day.eligibility),
        rooms=pd.concat(day.hourly, ignore_index=True) if day.hourly else pd.DataFrame(),
        rooms_daily=pd.DataFrame(day.daily),
        revenue=_revenue_frame(day.money, users["date"]),
        payouts=day.payouts(),
        reach=pd.DataFrame(day.reach),
        peak_rooms=pd.concat(day.peak_rooms, ignore_index=True) if day.peak_rooms
        else pd.DataFrame(),
        stats={
            "seconds": time.perf_counter() - started,
            "listener_sessions": float(day.sessions),
            "room_events": float(day.room_events),
            "max_speakers": float(day.max_speakers),
            "adoption_cap": day.cap,
        },
    )
    for name in ("users", "eligibility", "rooms", "rooms_daily", "revenue", "payouts", "reach",
                 "peak_rooms"):
        frame = getattr(tables, name)
        frame.insert(0, "rep", rep)
        if "date" in frame:
            frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    return tables


def _revenue_frame(money: list[dict[str, Any]], days: pd.Series) -> pd.DataFrame:
    columns = ["gross_usd", "store_usd", "creator_usd", "twitter_usd"]
    frame = pd.DataFrame(money, columns=["date", *columns])
    frame = frame.groupby("date", as_index=False)[columns].sum()
    everyday = pd.DataFrame({"date": [d.date() for d in pd.DatetimeIndex(days)]})
    return everyday.merge(frame, on="date", how="left").fillna(0.0)



"""The sim's peak hour as a plan a swarm replays: rooms, stages, listener sessions and room
events, deterministic from a seed (free of Locust imports, so tests check it directly).

The sim writes the rooms live at each sampled day's busiest minute, each with its own size
(``sim.peak_rooms``). The plan takes the day with the most listeners and the hour centred on
its busiest minute, compressed ``speedup`` times (60: the hour in a minute):

* rooms: one drawn from each of ``rooms`` equal strata of the sim's rooms ordered by audience
  (a panel room counts ``weight`` times), where the stratum's listeners are; each replayed room
  stands for its stratum;
* audiences: each room carries its stratum's share of the sim's listeners at the peak minute,
  scaled so that stages and audiences add up to ``users`` at the peak instant (largest
  remainders: the sum is exact). So the swarm's listeners are spread over its rooms as the
  sim's are over theirs, heavy tail included: the top stratum's room is as much bigger than
  the median one as the sim's top rooms hold more listeners than its median ones. Stages are
  not scaled (a room's stage is what its mixer carries): the sim's people on stage at the peak
  in the drawn room, on stage from its start to its end, as the host, co-hosts and opening
  speakers are in the sim;
* room start and end: the sim's (``end_min``); a run folder written before the table had it gets
  each room's end drawn from the scenario's room durations given the room's age at the peak;
* listeners: the sim's session process (``sim.room_sessions``): Poisson arrivals over the
  room's life, lognormal stays of the scenario's mean and sigma cut at the room's end, at the
  rate that gives the planned audience at the peak (Little's law with the room's age), then
  conditioned on exactly that audience at the peak instant;
* events: Poisson points on the listeners' time at the scenario's rates per listener-hour
  (requests to speak, messages, removals; a point picks a listener present at that moment, as
  in the sim) and the host's own invitations at its rate per room-hour spread over that time.
  The host's answers follow the scenario too (``HOST_RULES``).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from sim.peak_rooms import busiest_minute
from sim.room_params import RoomParams
from sim.scenario import from_mapping
from spaces_core.runfolder import latest_run, read_manifest, read_table

FloatArray = NDArray[np.float64]

WINDOW_MIN = 60.0
"""The replayed hour, in sim minutes, centred on the sim's busiest minute."""
REPLAY_TAIL_S = 3.0
"""Seconds the swarm runs past the hour, for the last visits to end."""
SEAT_GAP_S = 1.0
"""A Locust user takes its next session only this long after its last one ended (leaving
and tearing a peer down take time)."""

ROOM_COLUMNS: dict[str, str] = {
    "room": "replayed room (0: the smallest audience)",
    "sim_room": "the sim's panel room it replays",
    "start_s": "when its host opens it, replay seconds",
    "end_s": "when its host ends it, replay seconds",
    "listeners_at_peak": "listeners connected at the peak instant",
    "speakers": "people on stage (host included), from start to end",
    "sim_listeners": "the drawn sim room's listeners at the peak minute (full scale)",
    "sim_share": "its stratum's share of the sim's listeners at the peak minute",
}
SESSION_COLUMNS: dict[str, str] = {
    "session": "session id",
    "room": "replayed room",
    "role": "host, speaker or listener",
    "arrive_s": "replay seconds",
    "leave_s": "replay seconds",
    "seat": "the Locust user that plays it (one session at a time)",
}
EVENT_COLUMNS: dict[str, str] = {
    "time_s": "replay seconds",
    "room": "replayed room",
    "kind": "request (to speak), message, remove, invite (by the host)",
    "session": "the listener session it happens to (request, message) or the sim would pick "
               "(remove, invite: the host picks one of the listeners present)",
}
EVENT_RATES: dict[str, tuple[str, str]] = {
    "request": ("speak_requests_per_listener_hour", "listener-hour"),
    "message": ("messages_per_listener_hour", "listener-hour"),
    "remove": ("removals_per_listener_hour", "listener-hour"),
    "invite": ("host_invites_per_room_hour", "room-hour"),
}
"""Each event's rate: the scenario's ``[rooms]`` field (``sim.room_params``) and its unit."""
HOST_RULES = ("invite_prob", "speak_mean_min")
"""What the host does with a request (accepts it with ``invite_prob``) and how long an invited
listener speaks (exponential, mean ``speak_mean_min``), from the scenario's ``[rooms]``."""


ROOM_TITLE = "replay room "
"""A replayed room's title on the server: this and its number in the plan."""


def room_title(room: int) -> str:
    return f"{ROOM_TITLE}{room}"


def room_of_title(title: str) -> int | None:
    """The plan's room of a server room's title (None: not a replayed room)."""
    number = title.removeprefix(ROOM_TITLE)
    return int(number) if title.startswith(ROOM_TITLE) and number.isdigit() else None


def speedup_for(speedup: float, duration_s: float) -> float:
    """``speedup``, or when it is 0 the one that replays the hour in ``duration_s``."""
    return speedup if speedup > 0 else WINDOW_MIN * 60.0 / duration_s


@dataclass(frozen=True)
class ReplaySpec:
    users: int
    """People connected at the peak instant: stages plus audiences."""
    rooms: int = 0
    """Rooms to replay (0: the sim's ratio of rooms to people at the peak, at least 3, fewer
    when their stages would leave less than half of ``users`` to listen)."""
    speedup: float = 60.0
    seed: int = 1

    def check(self) -> None:
        """Raise ``ValueError`` naming the option of the first bad value."""
        if self.users < 3:
            raise ValueError(f"--users: must be >= 3, got {self.users}")
        if self.rooms < 0:
            raise ValueError(f"--replay-rooms: must be >= 0, got {self.rooms}")
        if not 1.0 <= self.speedup <= 720.0:
            raise ValueError(f"--speedup: must be between 1 and 720, got {self.speedup}")

    @property
    def duration_s(self) -> float:
        return WINDOW_MIN * 60.0 / self.speedup


@dataclass
class ReplayPlan:
    rooms: pd.DataFrame  # ROOM_COLUMNS
    sessions: pd.DataFrame  # SESSION_COLUMNS
    events: pd.DataFrame  # EVENT_COLUMNS
    spec: ReplaySpec
    peak_s: float
    rates: pd.DataFrame  # kind, per, rate, source
    host: dict[str, float] = field(default_factory=dict)  # HOST_RULES
    listen: tuple[float, float] = (20.0, 1.0)  # mean stay (sim minutes), lognormal sigma
    source: str = ""
    derived_ends: bool = False

    @property
    def duration_s(self) -> float:
        return self.spec.duration_s

    def seconds(self, sim_minutes: float) -> float:
        return sim_minutes * 60.0 / self.spec.speedup

    def headline(self) -> str:
        sizes = self.rooms["listeners_at_peak"]
        return (f"{len(self.rooms)} rooms, {int(sizes.sum())} listeners and "
                f"{int(self.rooms['speakers'].sum())} on stage at the peak "
                f"(rooms of {int(sizes.max())} to {int(sizes.min())} listeners, median "
                f"{sizes.median():.0f}); {int((self.sessions['role'] == 'listener').sum())} "
                f"listener sessions, {len(self.events)} room events over "
                f"{self.duration_s:.0f} s")


def over_time(plan: ReplayPlan, times: FloatArray) -> pd.DataFrame:
    """Planned listeners and stage of every room at each of ``times`` (replay seconds):
    t_s, room, listeners, speakers."""
    rows = []
    sessions = plan.sessions
    for key, of_room in sessions.groupby("room"):
        room = int(str(key))
        arrive = of_room["arrive_s"].to_numpy()
        leave = of_room["leave_s"].to_numpy()
        listener = (of_room["role"] == "listener").to_numpy()
        for t in times:
            present = (arrive <= t) & (t < leave)
            rows.append({"t_s": float(t), "room": room,
                         "listeners": int((present & listener).sum()),
                         "speakers": int((present & ~listener).sum())})
    return pd.DataFrame(rows, columns=["t_s", "room", "listeners", "speakers"])


def from_run(run: Path | None, spec: ReplaySpec) -> ReplayPlan:
    """The plan of a sim run folder's peak hour (default: the newest sim run under runs/)."""
    if run is None:
        run = latest_run("sim")
        if run is None:
            raise FileNotFoundError("no sim run folder under runs/: run `spaces-lab sim run` "
                                    "or pass --sim-run")
    manifest = read_manifest(run)
    params: dict[str, Any] = dict(manifest["parameters"])
    scenario = from_mapping(params, default_name=str(params.get("name", "custom")))
    peak = read_table(run, "peak_rooms")
    if peak.empty:
        raise ValueError(f"--sim-run: {run} has no peak_rooms table")
    return plan_replay(busiest_minute(peak), scenario.rooms, spec, source=str(run))


def plan_replay(peak: pd.DataFrame, params: RoomParams, spec: ReplaySpec,
                source: str = "") -> ReplayPlan:
    """The plan of one day's busiest minute (``sim.peak_rooms`` rows of one rep and date)."""
    spec.check()
    minute = float(peak["minute"].iloc[0])
    n_rooms = spec.rooms or default_rooms(peak, spec.users)
    while True:
        rng = np.random.default_rng(spec.seed)
        chosen = stratified(peak, n_rooms, rng)
        stage = np.maximum(chosen["speakers"].to_numpy(dtype=np.int64), 1)
        # rooms by default: fewer while their stages would leave less than half to listen
        if spec.rooms or n_rooms == 1 or 2 * int(stage.sum()) <= spec.users:
            break
        n_rooms -= 1
    budget = spec.users - int(stage.sum())
    if budget < 1:
        raise ValueError(f"--users: {spec.users} leaves no listener beside the {stage.sum()} "
                         f"people on the stages of {n_rooms} rooms; raise --users or lower "
                         f"--replay-rooms")
    audience = largest_remainders(chosen["share"].to_numpy(dtype=np.float64), budget)
    # sim minutes relative to the window's start; the peak instant is its middle
    origin = minute - WINDOW_MIN / 2
    peak_at = WINDOW_MIN / 2
    start = chosen["start_min"].to_numpy(dtype=np.float64)
    start = np.where(start > minute, start - 1440.0, start) - origin  # a room from yesterday
    derived = "end_min" not in chosen.columns
    if derived:
        end = start + residual_durations(peak_at - start, params, rng)
    else:
        end = chosen["end_min"].to_numpy(dtype=np.float64)
        end = np.where(end <= minute, end + 1440.0, end) - origin
    end = np.maximum(end, peak_at + 0.5)  # live at the peak, as the sim counted it

    order = np.argsort(audience, kind="stable")
    start, end, stage, audience = start[order], end[order], stage[order], audience[order]
    chosen = chosen.iloc[order]
    scale = 60.0 / spec.speedup  # replay seconds per sim minute
    rooms = pd.DataFrame({
        "room": np.arange(n_rooms, dtype=np.int64),
        "sim_room": chosen["room"].to_numpy(dtype=np.int64),
        "start_s": np.clip(start, 0.0, WINDOW_MIN) * scale,
        "end_s": np.clip(end, 0.0, WINDOW_MIN) * scale,
        "listeners_at_peak": audience,
        "speakers": stage,
        "sim_listeners": chosen["listeners"].to_numpy(dtype=np.float64),
        "sim_share": chosen["share"].to_numpy(dtype=np.float64),
    }, columns=list(ROOM_COLUMNS))

    parts = []
    for room in range(n_rooms):
        arrive, leave = listener_sessions(float(start[room]), float(end[room]), peak_at,
                                          int(audience[room]), params, rng)
        parts.append(_sessions(room, "listener", arrive, leave))
        lo, hi = max(float(start[room]), 0.0), min(float(end[room]), WINDOW_MIN)
        parts.append(_sessions(room, "host", np.array([lo]), np.array([hi])))
        parts.append(_sessions(room, "speaker", np.full(stage[room] - 1, lo),
                               np.full(stage[room] - 1, hi)))
    minutes = pd.concat(parts, ignore_index=True)
    minutes = minutes.sort_values(["room", "arrive_s", "role"], kind="stable",
                                  ignore_index=True)
    events = room_events(minutes, start, end, params, rng)
    sessions = minutes.assign(arrive_s=minutes["arrive_s"] * scale,
                              leave_s=minutes["leave_s"] * scale)
    sessions.insert(0, "session", np.arange(len(sessions), dtype=np.int64))
    sessions["seat"] = seats(sessions["arrive_s"].to_numpy(), sessions["leave_s"].to_numpy())
    events = events.assign(time_s=events["time_s"] * scale)
    rates = pd.DataFrame([
        {"kind": kind, "per": per, "rate": float(getattr(params, name)),
         "source": f"scenario [rooms] {name}"}
        for kind, (name, per) in EVENT_RATES.items()
    ])
    return ReplayPlan(
        rooms=rooms, sessions=sessions[list(SESSION_COLUMNS)],
        events=events[list(EVENT_COLUMNS)], spec=spec, peak_s=peak_at * scale, rates=rates,
        host={name: float(getattr(params, name)) for name in HOST_RULES},
        listen=(params.listen_mean_min, params.listen_sigma), source=source,
        derived_ends=derived,
    )


def default_rooms(peak: pd.DataFrame, users: int) -> int:
    """The sim's rooms per person at the peak minute, for ``users`` people; at least 3."""
    weight = peak["weight"].to_numpy(dtype=np.float64)
    people = float((weight * (peak["listeners"] + peak["speakers"])).sum())
    return max(3, round(users * float(weight.sum()) / people)) if people > 0 else 3


def stratified(peak: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rooms, one from each of ``n`` equal-weight strata of the rooms ordered by
    listeners, each with its stratum's ``share`` of the listeners. A stratum's room is drawn in
    proportion to the listeners it holds there (the room one of its listeners is in; by weight
    when the stratum has none), so its stage and times are those of where its listeners are."""
    ordered = peak.sort_values("listeners", kind="stable")
    weight = ordered["weight"].to_numpy(dtype=np.float64)
    listeners = ordered["listeners"].to_numpy(dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(weight)])
    held = np.concatenate([[0.0], np.cumsum(weight * listeners)])
    bounds = np.linspace(0.0, cum[-1], n + 1)
    # listeners accrue linearly through a room's weight, so a room on a boundary is split
    share = np.diff(np.interp(bounds, cum, held)) / max(held[-1], 1e-12)
    picked = np.empty(n, dtype=np.int64)
    for k in range(n):
        overlap = (np.clip(cum[1:], bounds[k], bounds[k + 1])
                   - np.clip(cum[:-1], bounds[k], bounds[k + 1]))
        mass = overlap * listeners
        odds = mass if mass.sum() > 0 else overlap
        picked[k] = rng.choice(len(weight), p=odds / odds.sum())
    chosen: pd.DataFrame = ordered.iloc[picked].reset_index(drop=True).assign(share=share)
    return chosen


def largest_remainders(sizes: FloatArray, total: int) -> NDArray[np.int64]:
    """Integers proportional to ``sizes`` that add up to ``total`` exactly."""
    if sizes.sum() <= 0:
        sizes = np.ones_like(sizes)
    exact = sizes * total / sizes.sum()
    whole = np.floor(exact).astype(np.int64)
    short = total - int(whole.sum())
    whole[np.argsort(-(exact - whole), kind="stable")[:short]] += 1
    out: NDArray[np.int64] = whole
    return out


def _lognormal(mean: float, sigma: float) -> Any:
    """scipy's lognormal of this mean and sigma (of the log)."""
    return stats.lognorm(s=sigma, scale=math.exp(math.log(mean) - sigma * sigma / 2))


def residual_durations(age: FloatArray, params: RoomParams,
                       rng: np.random.Generator) -> FloatArray:
    """Room durations drawn from the scenario's (``sim.rooms.draw_schedule``: lognormal, cut
    at ``duration_max_min``) given that each room has already run ``age`` minutes."""
    sigma = max(params.duration_sigma, 1e-9)
    law = stats.lognorm(s=sigma, scale=params.duration_median_min)
    lo = law.cdf(np.maximum(age, 0.0))
    u = lo + rng.random(age.shape[0]) * (1.0 - lo)
    duration = np.asarray(law.ppf(np.minimum(u, 1.0 - 1e-12)), dtype=np.float64)
    return np.minimum(np.maximum(duration, age), params.duration_max_min)


def listener_sessions(start: float, end: float, peak_at: float, audience: int,
                      params: RoomParams, rng: np.random.Generator
                      ) -> tuple[FloatArray, FloatArray]:
    """Arrivals and departures (sim minutes from the window's start, clipped to the window)
    of one room's listeners: exactly ``audience`` of them present at ``peak_at``."""
    stay = _lognormal(params.listen_mean_min, params.listen_sigma)
    age = peak_at - start
    # Little's law for a room ``age`` minutes old: present at the peak = rate * E[min(stay, age)]
    held = float(stay.expect(lambda x: np.minimum(x, age))) if age > 0 else 0.0
    rate = audience / held if held > 0 else 0.0
    last = min(end, WINDOW_MIN)
    count = int(rng.poisson(rate * max(last - start, 0.0)))
    arrive = start + rng.random(count) * (last - start)
    leave = np.minimum(arrive + stay.rvs(size=count, random_state=rng), end)
    present = (arrive <= peak_at) & (peak_at < leave)
    surplus = int(present.sum()) - audience
    if surplus > 0:  # too many at the peak: drop some of those present
        drop = rng.choice(np.flatnonzero(present), surplus, replace=False)
        keep = np.ones(count, dtype=np.bool_)
        keep[drop] = False
        arrive, leave = arrive[keep], leave[keep]
    elif surplus < 0:  # too few: add arrivals drawn given that they are there at the peak
        more_arrive, more_leave = _present_at(-surplus, start, end, peak_at, stay, rng)
        arrive = np.concatenate([arrive, more_arrive])
        leave = np.concatenate([leave, more_leave])
    inside = leave > 0.0
    return np.maximum(arrive[inside], 0.0), np.minimum(leave[inside], WINDOW_MIN)


def _present_at(n: int, start: float, end: float, peak_at: float, stay: Any,
                rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """``n`` sessions of the room's arrival process that are present at ``peak_at``
    (rejection: uniform arrival before the peak, a stay long enough to reach it)."""
    arrive: list[FloatArray] = []
    leave: list[FloatArray] = []
    found = 0
    while found < n:
        batch = 16 * (n - found) + 16
        a = start + rng.random(batch) * (peak_at - start)
        b = a + stay.rvs(size=batch, random_state=rng)
        ok = b > peak_at
        arrive.append(a[ok])
        leave.append(np.minimum(b[ok], end))
        found += int(ok.sum())
    return np.concatenate(arrive)[:n], np.concatenate(leave)[:n]


def _sessions(room: int, role: str, arrive: FloatArray, leave: FloatArray) -> pd.DataFrame:
    return pd.DataFrame({"room": np.full(arrive.shape[0], room, dtype=np.int64),
                         "role": role, "arrive_s": arrive, "leave_s": leave})


def room_events(sessions: pd.DataFrame, start: FloatArray, end: FloatArray,
                params: RoomParams, rng: np.random.Generator) -> pd.DataFrame:
    """Poisson points on each room's listener-time (sim minutes), as ``sim.room_sessions``
    draws them: a uniform position in the concatenated stays picks a session and a moment."""
    rows: list[pd.DataFrame] = []
    listeners = sessions[sessions["role"] == "listener"]
    for key, of_room in listeners.groupby("room"):
        room = int(str(key))
        arrive = of_room["arrive_s"].to_numpy()
        leave = of_room["leave_s"].to_numpy()
        cum = np.concatenate([[0.0], np.cumsum(leave - arrive)])
        total = float(cum[-1])
        if total <= 0:
            continue
        life = min(float(end[room]), WINDOW_MIN) - max(float(start[room]), 0.0)
        for kind, (name, per) in EVENT_RATES.items():
            rate = float(getattr(params, name)) / 60.0  # per minute
            count = int(rng.poisson(rate * (total if per == "listener-hour" else life)))
            u = np.sort(rng.random(count) * total)
            picked = np.searchsorted(cum, u, side="right") - 1
            rows.append(pd.DataFrame({
                "time_s": arrive[picked] + (u - cum[picked]),
                "room": room, "kind": kind,
                "session": of_room.index.to_numpy()[picked],
            }))
    if not rows:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in (
            ("time_s", "float64"), ("room", "int64"), ("kind", "object"),
            ("session", "int64"))})
    return pd.concat(rows, ignore_index=True).sort_values("time_s", ignore_index=True)


def seats(arrive: FloatArray, leave: FloatArray, gap_s: float = SEAT_GAP_S
          ) -> NDArray[np.int64]:
    """Each session's seat: the fewest Locust users that play every session, one at a time
    with ``gap_s`` between two of a user's sessions (interval partitioning, greedy)."""
    seat = np.empty(arrive.shape[0], dtype=np.int64)
    free: list[tuple[float, int]] = []
    used = 0
    for i in np.argsort(arrive, kind="stable"):
        if free and free[0][0] <= arrive[i]:
            _, s = heapq.heappop(free)
        else:
            s, used = used, used + 1
        seat[i] = s
        heapq.heappush(free, (float(leave[i]) + gap_s, s))
    return seat

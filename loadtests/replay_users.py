"""Locust users that replay a plan (``replay_plan``): each user is a seat that plays its
planned sessions one after another, as a host, a speaker or a listener, at the planned times.

* A host opens its room at the room's start (titled ``replay_plan.room_title``), publishes a
  voice, follows the room's events and ends the room at its end. It seats the room's planned
  speakers as they ask, accepts a listener's request with the scenario's ``invite_prob``,
  invites and removes listeners at the planned times (one of those present, at random) and
  moves a listener it brought up back after an exponential time of mean ``speak_mean_min``.
* A speaker joins publishing a voice and asks to speak until it is on stage.
* A listener joins, follows the room's events as the page does (the levels every 200 ms
  included: load the server carries) and reports how many levels events per second it got,
  asks to speak and sends messages at its planned times, accepts an invitation (it has no
  microphone: it is a silent speaker until the host moves it back) and leaves at its
  departure, or when removed or the room ends.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import time
from collections import deque
from typing import Any, ClassVar

import gevent
from locust import events, task
from locust.runners import WorkerRunner

from loadtests.names import AUDIO, LEVELS_RATE, NO_AUDIO
from loadtests.probes import probe_mode_of
from loadtests.replay_plan import ReplayPlan, room_title
from loadtests.users import Rejected, SpacesUser, _audio
from media_bench.client.bots import Bot, ListenerBot, SpeakerBot

TICK_S = 0.2
"""How often a session looks at its clock and its room's events."""
REPORT_EVERY_S = 2.0
"""How often a session reports what its bot measured."""
JOIN_AUDIO_S = 15.0
"""A visit that hears nothing this long after joining (or before it ends) is a failure."""
ASK_AGAIN_S = 3.0
"""A planned speaker not yet on stage asks again after this long."""


class Replay:
    """This process's plan, its clock and which seats it plays."""

    plan: ClassVar[ReplayPlan | None] = None
    started: ClassVar[float | None] = None
    _seats: ClassVar[itertools.count[int]] = itertools.count()
    _listeners: ClassVar[itertools.count[int]] = itertools.count()
    _room_ids: ClassVar[dict[int, str]] = {}

    @classmethod
    def load(cls, plan: ReplayPlan) -> None:
        cls.plan = plan

    @classmethod
    def start_clock(cls) -> float:
        """Start the replay's clock (at the test's start); returns its epoch time."""
        cls.started = time.monotonic()
        return time.time()

    @classmethod
    def now(cls) -> float:
        if cls.started is None:
            cls.started = time.monotonic()
        return time.monotonic() - cls.started

    @classmethod
    def next_seat(cls, environment: Any) -> int:
        """Seats are dealt round the worker processes: worker i of n plays i, i + n, ...
        (``--processes n``: the workers know n from it; the shape gives each as many users)."""
        runner = environment.runner
        index, count = 0, 1
        if isinstance(runner, WorkerRunner):
            processes = int(getattr(environment.parsed_options, "processes", 1) or 1)
            count = processes if processes > 0 else os.cpu_count() or 1
            index = runner.worker_index
        return index + next(cls._seats) * count


def sleep_until(t: float) -> None:
    gevent.sleep(max(0.0, t - Replay.now()))


class ReplayUser(SpacesUser):
    """One seat of the replay plan. It waits for its next session between tasks (Locust ends a
    waiting user at once when the test stops, a user in a task only after ``--stop-timeout``)."""

    def on_start(self) -> None:
        plan = Replay.plan
        assert plan is not None, "the sim-hour shape loads the plan"
        self.plan = plan
        seat = Replay.next_seat(self.environment)
        mine = plan.sessions[plan.sessions["seat"] == seat].sort_values("arrive_s")
        self.schedule: deque[Any] = deque(mine.itertuples(index=False))
        self.role = ""
        self.last_report = 0.0

    def wait_time(self) -> float:
        if not self.schedule:
            return self.plan.duration_s + 60.0  # idle until the shape stops the test
        return max(0.0, float(self.schedule[0].arrive_s) - Replay.now())

    @task
    def play_next_session(self) -> None:
        if not self.schedule or float(self.schedule[0].arrive_s) > Replay.now() + TICK_S:
            return
        row = self.schedule.popleft()
        sleep_until(float(row.arrive_s))
        if Replay.now() >= float(row.leave_s):
            return
        self.role = str(row.role)
        try:
            if row.role == "host":
                HostSession(self, row).play()
            else:
                AudienceSession(self, row).play()
        finally:
            self.finish_session()

    def join_visit(self, bot: Bot, leave: float) -> None:
        """Join; a visit that hears nothing within ``JOIN_AUDIO_S`` (or before it ends) is
        reported as a failure (``NO_AUDIO``) and goes on, connected, to its end."""
        within = max(min(JOIN_AUDIO_S, leave - Replay.now()), 2.0)
        try:
            self.join_media(bot, audio_within=within)
        except TimeoutError as silent:
            events.request.fire(request_type=AUDIO, name=NO_AUDIO, response_time=within * 1e3,
                                response_length=0, exception=silent, context={})

    def report_now(self) -> None:
        if Replay.now() - self.last_report >= REPORT_EVERY_S:
            self.last_report = Replay.now()
            self.report_audio()
            self.check_events()

    def finish_session(self) -> None:
        """Leave (or end the room, as its host) and drop the peer."""
        self.report_audio()
        room_id = self.room_id
        if room_id is not None:
            with contextlib.suppress(Exception, Rejected):
                if self.role == "host":
                    self.timed("end room", lambda: self.api.end_room(self.token, room_id),
                               (409,))
                else:
                    self.timed("leave", lambda: self.api.leave(self.token, room_id),
                               (403, 404, 409))
        self.room_id = None
        self.role = ""
        self.drop_media()

    def on_stop(self) -> None:
        self.finish_session()

    def find_room(self, room: int, until: float) -> str | None:
        """The server's id of the plan's room, once its host has opened it."""
        title = room_title(room)
        while Replay.now() < until:
            if room in Replay._room_ids:
                return Replay._room_ids[room]
            listed = self.timed("list rooms", lambda: self.api.rooms(self.token))
            for state in listed.rooms:
                if state.live and state.host_present and state.title == title:
                    Replay._room_ids[room] = state.id
            if room not in Replay._room_ids:
                gevent.sleep(0.5)
        return None


class HostSession:
    """A host's life in its room: open, seat, accept, invite, remove, move back, end."""

    def __init__(self, user: ReplayUser, row: Any) -> None:
        self.user = user
        self.row = row
        plan = user.plan
        room = int(row.room)
        self.stage = int(plan.rooms.loc[plan.rooms["room"] == room, "speakers"].iloc[0])
        acts = plan.events[(plan.events["room"] == room)
                           & plan.events["kind"].isin(["invite", "remove"])]
        self.acts: deque[Any] = deque(acts.sort_values("time_s").itertuples(index=False))
        self.rng = random.Random(plan.spec.seed * 1_000_003 + room)
        self.requests: deque[str] = deque()
        self.listeners: set[str] = set()
        self.on_stage: set[str] = set()
        self.brought_up: dict[str, float] = {}  # listener on stage -> when to move it back

    def play(self) -> None:
        user, row = self.user, self.row
        user.sign_in(user.directory().host_id())
        created = user.timed("create room", lambda: user.api.create_room(
            user.token, title=room_title(int(row.room))))
        user.room_id = created.id
        Replay._room_ids[int(row.room)] = created.id
        user.join_visit(SpeakerBot(user.api, user.token, created.id, probe="count",
                                   impairment=user.impairment()), float(row.leave_s))
        user.follow_room_events(created.id, self.on_event)
        while Replay.now() < float(row.leave_s):
            self.answer_requests()
            self.planned_acts()
            self.move_back()
            user.report_now()
            gevent.sleep(TICK_S)

    def on_event(self, event: dict[str, Any]) -> None:
        """Runs on the bridge loop: plain containers only."""
        kind, who = event.get("type"), event.get("user")
        if not who or who == self.user.user_id:
            return
        if kind == "request":
            self.requests.append(who)
        elif kind == "joined":
            self.listeners.add(who)
        elif kind in ("left", "removed"):
            self.listeners.discard(who)
            self.on_stage.discard(who)
        elif kind == "role" and event.get("role") == "listener":
            self.on_stage.discard(who)
            self.listeners.add(who)
        elif kind == "role":
            self.on_stage.add(who)
            self.listeners.discard(who)

    def act(self, name: str, action: str, target: str) -> bool:
        user, room_id = self.user, self.user.room_id
        assert room_id is not None
        try:
            user.timed(name, lambda: user.api.act(user.token, room_id, target, action),
                       expected=(404, 409))
            return True
        except Rejected:
            return False

    def speak_for(self) -> float:
        return self.rng.expovariate(1.0) * self.user.plan.seconds(
            self.user.plan.host["speak_mean_min"])

    def answer_requests(self) -> None:
        """The planned speakers take the stage's free seats; anyone else is accepted with the
        scenario's ``invite_prob`` and goes back to listening after a while."""
        while self.requests:
            who = self.requests.popleft()
            opening = len(self.on_stage) < self.stage - 1
            if opening:
                self.act("accept request to speak", "accept", who)
            elif (self.rng.random() < self.user.plan.host["invite_prob"]
                  and self.act("accept request to speak", "accept", who)):
                self.brought_up[who] = Replay.now() + self.speak_for()

    def planned_acts(self) -> None:
        while self.acts and float(self.acts[0].time_s) <= Replay.now():
            act = self.acts.popleft()
            present = sorted(self.listeners - self.on_stage)
            if not present:
                continue
            who = self.rng.choice(present)
            if act.kind == "invite":
                if self.act("invite to speak", "invite", who):
                    self.brought_up[who] = Replay.now() + self.speak_for()
            elif self.act("remove participant", "remove", who):
                self.listeners.discard(who)

    def move_back(self) -> None:
        for who, at in list(self.brought_up.items()):
            if at <= Replay.now():
                del self.brought_up[who]
                if who in self.on_stage:
                    self.act("move speaker to listener", "listener", who)


class AudienceSession:
    """A speaker's or a listener's visit to its room."""

    def __init__(self, user: ReplayUser, row: Any) -> None:
        self.user = user
        self.row = row
        self.speaks = row.role == "speaker"
        plan = user.plan
        mine = plan.events[plan.events["session"] == int(row.session)]
        self.due: deque[Any] = deque(mine[mine["kind"].isin(["request", "message"])]
                                     .sort_values("time_s").itertuples(index=False))
        self.invited = False
        self.gone = False  # removed, or the room ended
        self.on_stage = False
        self.levels = 0

    def play(self) -> None:
        user, row = self.user, self.row
        leave = float(row.leave_s)
        user.sign_in(user.directory().audience_id())
        room_id = user.find_room(int(row.room), until=leave)
        if room_id is None:
            return
        if self.speaks:
            bot: SpeakerBot | ListenerBot = SpeakerBot(user.api, user.token, room_id,
                                                      probe="count",
                                                      impairment=user.impairment())
        else:
            mode = probe_mode_of(next(Replay._listeners), user.options.probe_every,
                                 user.options.full_probe_every)
            bot = ListenerBot(user.api, user.token, room_id, probe=mode,
                              impairment=user.impairment())
        user.room_id = room_id
        try:
            user.join_visit(bot, leave)
        except Rejected:
            user.room_id = None  # not in the room: no leave in this account's name
            return
        user.follow_room_events(room_id, self.on_event)
        following = Replay.now()
        asked = -1e9
        while Replay.now() < leave and not self.gone:
            if self.speaks and not self.on_stage and Replay.now() - asked > ASK_AGAIN_S:
                asked = Replay.now()  # a refusal (asked already) is no reason to leave
                self.call("request to speak", lambda: user.api.request_to_speak(
                    user.token, room_id), leaves=False)
            self.planned(room_id)
            if self.invited:
                self.invited = False
                self.call("accept invitation to speak", lambda: user.api.accept_invite(
                    user.token, room_id))
            user.report_now()
            gevent.sleep(TICK_S)
        if not self.speaks and Replay.now() > following:
            _audio(LEVELS_RATE, self.levels / (Replay.now() - following))

    def on_event(self, event: dict[str, Any]) -> None:
        """Runs on the bridge loop: plain containers only."""
        kind = event.get("type")
        if kind == "levels":
            self.levels += 1
        elif kind in ("ended", "closed"):
            self.gone = True
        elif event.get("user") == self.user.user_id:
            if kind == "invited":
                self.invited = True
            elif kind == "removed":
                self.gone = True
            elif kind == "role":
                self.on_stage = event.get("role") != "listener"

    def planned(self, room_id: str) -> None:
        user = self.user
        while self.due and float(self.due[0].time_s) <= Replay.now():
            event = self.due.popleft()
            if event.kind == "request":
                self.call("request to speak", lambda: user.api.request_to_speak(
                    user.token, room_id))
            else:
                self.call("send message", lambda: user.api.send_message(
                    user.token, room_id, "great space!"))

    def call(self, name: str, make: Any, leaves: bool = True) -> None:
        """A call that the server may refuse once we were removed or the room ended (then,
        with ``leaves``, the visit is over)."""
        try:
            self.user.timed(name, make, expected=(403, 404, 409))
        except Rejected:
            self.gone = self.gone or leaves


@events.test_start.add_listener
def start_clock(environment: Any, **_: Any) -> None:
    if Replay.plan is not None:
        print(f"replay clock started at epoch {Replay.start_clock():.3f}", flush=True)


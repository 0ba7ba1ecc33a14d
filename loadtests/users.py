"""Locust users for Spaces rooms: hosts, speakers and listeners with real WebRTC peers.

Every control call is a Locust request (type ``API``) with its response time. Audio is
reported as requests of type ``AUDIO``: join time (offer to first audio), mouth-to-arrival and
mouth-to-ear latency of the timing marks, jitter, packet loss and the share of marks lost per
reporting window, so they show in the web UI, the CSV and the HTML report like any request.

Listeners are cheap by default: they count packets after SRTP (loss and jitter from RTP
headers) without decoding. Every ``--probe-every``-th listener of a process also decodes on
arrival to time the marks, and every ``--full-probe-every``-th runs aiortc's whole receive path
to time the marks in what a person would hear.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from locust import User, between, events, task
from locust.exception import StopUser

from loadtests import bridge, session
from loadtests.names import (
    API,
    AUDIO,
    BY_ROOM,
    BY_ROOM_SEPARATOR,
    CONCEALED,
    JITTER,
    JOIN_TIME,
    LOSS,
    LOSS_BURST,
    MARKS_LOST,
    MOUTH_TO_ARRIVAL,
    MOUTH_TO_EAR,
    RELATIVE_DELAY,
)
from loadtests.network import peer_impairment
from loadtests.probes import probe_mode_of
from media_bench.client.api import ApiClient
from media_bench.client.bots import ListenerBot, Peer, ProbeMode, SpeakerBot
from media_bench.client.impairment import PeerImpairment
from media_bench.client.marks import MarkDetector, Signal
from media_bench.client.target import Rooms
from media_bench.client.targets import OURS
from media_bench.common.contract import TicketTerms
from sim.rules.rooms import MAX_COHOSTS
from spaces_core.errors import Refused

T = TypeVar("T")
CALL_TIMEOUT = 30.0
_peers: dict[str, itertools.count[int]] = {}


class Rejected(Refused):
    """An expected refusal (sold out, room ended, removed): not a failure of the server."""


class SpacesUser(User):
    """Common plumbing: identity, timed API calls through the asyncio bridge."""

    abstract = True
    wait_time = between(1.0, 3.0)
    role = "listener"
    """Which role's figures this user's audio counts in (``BY_ROOM``)."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.user_id = ""
        self.token = ""
        self.bot: Peer | None = None
        self.room_id: str | None = None
        self.options = environment.parsed_options
        self._window = (0, 0)  # (received, expected) at the last report
        self._playout_window = (0, 0)  # (played, decided) at the last report
        self._bursts_seen = 0
        self._latencies_seen: dict[str, int] = {}
        self._marks_lost = 0
        self._events: Future[None] | None = None
        self._events_reported = False

    _anonymous = 0

    @property
    def api(self) -> ApiClient:
        return session.client(self.base_url)

    @property
    def rooms(self) -> Rooms:
        return session.rooms(self.base_url, self.options.target)

    @property
    def on_janus(self) -> bool:
        """Janus has rooms and media only: what else a user does here is skipped there."""
        return bool(self.options.target != OURS)

    @property
    def base_url(self) -> str:
        return str(self.host or "http://127.0.0.1:8080")

    def timed(self, name: str, make: Callable[[], Awaitable[T]],
              expected: tuple[int, ...] = ()) -> T:
        """Run one API call on the bridge and report it; refusals in ``expected`` raise
        :class:`Rejected` and count as successes (the server answered as it should)."""
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return bridge.run(_awaitable(make), timeout=CALL_TIMEOUT)
        except Refused as failure:
            if failure.status in expected:
                raise Rejected(failure.status, failure.reason) from failure
            error = failure
            raise
        except Exception as failure:
            error = failure
            raise
        finally:
            events.request.fire(
                request_type=API, name=name, response_time=(time.perf_counter() - started) * 1e3,
                response_length=0, exception=error, context={},
            )

    def sign_in(self, user_id: str) -> None:
        self.user_id = user_id
        self.token = self.timed("token", lambda: self.api.token(user_id))

    def directory(self) -> session.Directory:
        """The server's accounts as this load process hands them out."""
        process = getattr(self.environment.runner, "worker_index", 0)
        return bridge.run(session.directory(self.base_url, process))

    def sign_in_anonymously(self) -> None:
        """Janus knows no users: a name of this process's own."""
        SpacesUser._anonymous += 1
        self.user_id = f"{type(self).__name__.lower()}-{SpacesUser._anonymous}"

    def impairment(self) -> PeerImpairment | None:
        """The bad network of this user's next peer (``--impair``), seeded by the Locust
        worker's index, the role and the peer's number in this process."""
        number = next(_peers.setdefault(self.role, itertools.count()))
        worker = getattr(self.environment.runner, "worker_index", 0)
        return peer_impairment(self.options, f"{worker}/{self.role}/{number}")

    def report_audio(self) -> None:
        """Report what the bot measured since the last report."""
        if self.bot is None:
            return
        probe = self.bot.probe
        received, expected = probe.counters()
        last_received, last_expected = self._window
        self._window = (received, expected)
        if expected - last_expected > 0:
            lost = max(0, (expected - last_expected) - (received - last_received))
            self.audio(LOSS, 1000.0 * lost / (expected - last_expected))
            self.audio(JITTER, probe.jitter * 1e3)
        delays = probe.take_relative_delays()
        if probe.mode != "count":  # a sample a second from every listener would be load
            for delay in delays:
                self.audio(RELATIVE_DELAY, delay * 1e3)
        played, decided = probe.playout_counters()
        last_played, last_decided = self._playout_window
        self._playout_window = (played, decided)
        if decided > last_decided:
            concealed = (decided - last_decided) - (played - last_played)
            self.audio(CONCEALED, 1000.0 * concealed / (decided - last_decided))
        bursts = probe.bursts
        for burst in bursts[self._bursts_seen:]:
            self.audio(LOSS_BURST, burst)
        self._bursts_seen = len(bursts)
        for name, detector in ((MOUTH_TO_ARRIVAL, probe.arrival_marks),
                               (MOUTH_TO_EAR, probe.played_marks)):
            seen = self._latencies_seen.get(name, 0)
            fresh = detector.latencies[seen:]
            self._latencies_seen[name] = seen + len(fresh)
            for latency in fresh:
                self.audio(name, latency * 1e3)
            if name == MOUTH_TO_ARRIVAL:
                self._report_marks_lost(detector, len(fresh))

    def _report_marks_lost(self, detector: MarkDetector, read: int) -> None:
        lost = max(self._marks_lost, detector.lost_by(time.time()))
        newly_lost, self._marks_lost = lost - self._marks_lost, lost
        if read + newly_lost:
            self.audio(MARKS_LOST, 1000.0 * newly_lost / (read + newly_lost))

    def audio(self, name: str, value: float) -> None:
        """Report one audio figure, and again under this user's role and room."""
        _audio(name, value)
        if self.room_id is not None:
            _audio(BY_ROOM_SEPARATOR.join((name, self.role, self.room_id)), value, BY_ROOM)

    def join_media(self, bot: Peer, audio_within: float = 15.0) -> None:
        """Offer/answer over the API, then wait for the first audio packet (``TimeoutError``
        when none came within ``audio_within`` seconds)."""
        self.bot = bot
        self._window = (0, 0)
        self._playout_window = (0, 0)
        self._bursts_seen = 0
        self._latencies_seen = {}
        self._marks_lost = 0
        self.timed("join (offer/answer)", bot.join, expected=(403, 409))
        seconds = bridge.run(bot.wait_audio(audio_within), timeout=audio_within + 5.0)
        self.audio(JOIN_TIME, seconds * 1e3)

    def follow_room_events(self, room_id: str,
                           on_event: Callable[[dict[str, Any]], None]) -> None:
        """Follow a room's events until ``drop_media``. ``on_event`` runs on the bridge loop,
        so it may only touch plain containers, never Locust; a broken stream is reported from
        the greenlet by ``check_events``."""
        async def follow() -> None:
            async for event in self.api.events(self.token, room_id):
                on_event(event)

        self.stop_following()
        self._events = bridge.submit(follow())
        self._events_reported = False

    def stop_following(self) -> None:
        if self._events is not None:
            self._events.cancel()
            self._events = None

    def check_events(self) -> None:
        """Report once if the room's event stream broke."""
        stream = self._events
        if stream is None or not stream.done() or stream.cancelled() or self._events_reported:
            return
        self._events_reported = True
        error = stream.exception()
        if error is not None:
            events.request.fire(request_type=API, name="room events (SSE)", response_time=0,
                                response_length=0, exception=error, context={})

    def drop_media(self) -> None:
        self.stop_following()
        if self.bot is not None:
            bot, self.bot = self.bot, None
            with contextlib.suppress(Exception):
                bridge.run(bot.close(), timeout=10.0)

    def on_stop(self) -> None:
        if self.bot is not None and self.room_id is not None:
            self.report_audio()
        if self.bot is not None and self.room_id is not None and not self.on_janus:
            with contextlib.suppress(Exception, Rejected):
                room_id = self.room_id
                self.timed("leave", lambda: self.api.leave(self.token, room_id), (403, 404, 409))
        self.drop_media()


class HostUser(SpacesUser):
    """Creates a room (sometimes ticketed), speaks in it, accepts requests to speak, makes
    speakers co-hosts (so the stage can fill all its seats), moves speakers back, removes a
    participant now and then, reads messages; ends it on stop."""

    fixed_count = 2
    role = "host"

    def on_start(self) -> None:
        self.requests: deque[str] = deque()
        self.listeners: set[str] = set()
        self.speakers: set[str] = set()
        self.cohosts: set[str] = set()
        self.former_speakers: set[str] = set()
        if self.on_janus:
            self.sign_in_anonymously()
            title = f"load test {self.user_id}"
            self.room_id = self.timed("create room", lambda: self.rooms.create_room(title))
            room_id = self.room_id
            self.join_media(bridge.run(self.rooms.speaker(room_id, Signal(), "count")))
            return
        directory = self.directory()
        # a ticketed room needs a host the server says may sell tickets; without one, free
        ticket_host = (directory.ticket_host_id()
                       if random.random() < self.options.ticketed_share else None)
        self.sign_in(ticket_host or directory.host_id())
        ticket = (None if ticket_host is None
                  else TicketTerms(price=3.0, cap=self.options.ticket_cap))
        room = self.timed("create room", lambda: self.api.create_room(
            self.token, title=f"load test {self.user_id}", ticket=ticket))
        self.room_id = room.id
        self.join_media(SpeakerBot(self.api, self.token, self.room_id, probe="count",
                                   impairment=self.impairment()))
        self.follow_room_events(self.room_id, self._on_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind, user = event.get("type"), event.get("user")
        if not user:
            return
        if kind == "request":
            self.requests.append(user)
        elif kind == "joined" and event.get("role") == "listener":
            self.listeners.add(user)
        elif kind in ("left", "removed"):
            self.listeners.discard(user)
            self.speakers.discard(user)
            self.cohosts.discard(user)
            self.former_speakers.discard(user)
        elif kind == "role" and event.get("role") == "listener":
            self.speakers.discard(user)
            self.cohosts.discard(user)
            self.listeners.add(user)
            self.former_speakers.add(user)
        elif kind == "role":
            self.speakers.add(user)
            self.listeners.discard(user)
            if event.get("role") == "cohost":
                self.cohosts.add(user)

    def act(self, name: str, action: str, target: str) -> None:
        room_id = self.room_id
        assert room_id is not None
        with contextlib.suppress(Rejected):
            self.timed(name, lambda: self.api.act(self.token, room_id, target, action),
                       expected=(404, 409))

    @task(6)
    def accept_requests(self) -> None:
        while self.requests:
            self.act("accept request to speak", "accept", self.requests.popleft())
        self.check_events()
        self.report_audio()

    @task(1)
    def make_cohost(self) -> None:
        # co-hosts have seats of their own besides the speakers'
        plain = sorted(self.speakers - self.cohosts)
        if plain and len(self.cohosts) < MAX_COHOSTS:
            self.act("make co-host", "cohost", random.choice(plain))

    @task(2)
    def move_back_to_listener(self) -> None:
        if self.speakers:
            self.act("move speaker to listener", "listener", random.choice(sorted(self.speakers)))

    @task(2)
    def invite_to_speak(self) -> None:
        # Hosts invite back people who spoke before, else anyone listening. Speaker users
        # accept; a listener user has no microphone and lets the invitation lapse.
        if random.random() >= self.options.invite_share:
            return
        candidates = sorted(self.former_speakers & self.listeners) or sorted(self.listeners)
        if candidates:
            self.act("invite to speak", "invite", random.choice(candidates))

    @task(1)
    def remove_participant(self) -> None:
        if self.listeners and random.random() < self.options.remove_share:
            target = random.choice(sorted(self.listeners))
            self.listeners.discard(target)
            self.act("remove participant", "remove", target)

    @task(2)
    def read_messages(self) -> None:
        room_id = self.room_id
        assert room_id is not None
        if self.on_janus:
            return
        self.timed("read messages", lambda: self.api.call(
            "GET", f"/rooms/{room_id}/messages", self.token))

    def on_stop(self) -> None:
        self.report_audio()
        if self.room_id is not None:
            room_id = self.room_id
            with contextlib.suppress(Exception, Rejected):
                if self.on_janus:
                    self.timed("end room", lambda: self.rooms.end_room(room_id))
                else:
                    self.timed("end room", lambda: self.api.end_room(self.token, room_id), (409,))
            self.room_id = None
        self.drop_media()


class AudienceUser(SpacesUser):
    """A participant who finds a live room (buying a ticket when it is ticketed) and joins."""

    abstract = True
    publishes = False

    def probe_mode(self) -> ProbeMode:
        return "count"

    def on_start(self) -> None:
        if self.on_janus:
            self.sign_in_anonymously()
        else:
            self.sign_in(self.directory().audience_id())
        self.enter_a_room()

    def enter_a_room(self) -> None:
        """Join some live room; waits (without failing) while there is none to join."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.on_janus:
                live = [{"id": r} for r in self.timed("list rooms", self.rooms.live_rooms)]
            else:
                rooms = self.timed("list rooms",
                                   lambda: self.api.call("GET", "/rooms", self.token))
                live = [r for r in rooms["rooms"] if r.get("live") and r.get("host_present")]
            if not live:
                self.wait()
                continue
            room = random.choice(live)
            try:
                self.room_id = room_id = str(room["id"])
                if room.get("ticket"):
                    self.buy_ticket(self.room_id)
                bot: Peer
                if self.on_janus:
                    probe = self.probe_mode()
                    bot = bridge.run(self.rooms.speaker(room_id, Signal(), probe)
                                     if self.publishes else self.rooms.listener(room_id, probe))
                elif self.publishes:
                    bot = SpeakerBot(self.api, self.token, self.room_id, probe=self.probe_mode(),
                                     impairment=self.impairment())
                else:
                    bot = ListenerBot(self.api, self.token, self.room_id,
                                      probe=self.probe_mode(), impairment=self.impairment())
                self.join_media(bot)
                self.joined(self.room_id)
                return
            except Rejected:
                self.drop_media()
                self.room_id = None
                self.wait()
        raise StopUser()

    def joined(self, room_id: str) -> None:
        """Called once the media of ``room_id`` flows."""

    def buy_ticket(self, room_id: str) -> None:
        self.timed("buy ticket", lambda: self.api.buy_ticket(self.token, room_id), (409,))

    def switch_rooms(self) -> None:
        self.report_audio()
        room_id = self.room_id
        if room_id is not None and not self.on_janus:
            with contextlib.suppress(Rejected):
                self.timed("leave", lambda: self.api.leave(self.token, room_id), (403, 404, 409))
        self.drop_media()
        self.room_id = None
        self.enter_a_room()

    def ask_to_speak_now(self, room_id: str) -> None:
        if self.on_janus:
            return
        self.still_in_room(lambda: self.api.call(
            "POST", f"/rooms/{room_id}/requests", self.token), "request to speak")

    def still_in_room(self, make: Callable[[], Awaitable[Any]], name: str) -> bool:
        """Make a call that fails once the host removed us or ended the room; then move on."""
        try:
            self.timed(name, make, expected=(403, 404, 409))
            return True
        except Rejected:
            self.switch_rooms()
            return False


class ListenerUser(AudienceUser):
    """Listens, sends the host a message, asks to speak now and then, leaves for another room."""

    weight = 10
    wait_time = between(3.0, 7.0)  # a listener mostly listens; reports every ~5 s
    _created = 0

    def probe_mode(self) -> ProbeMode:
        n = ListenerUser._created
        ListenerUser._created += 1
        return probe_mode_of(n, self.options.probe_every, self.options.full_probe_every)

    @task(10)
    def listen(self) -> None:
        self.report_audio()

    @task(2)
    def message_host(self) -> None:
        room_id = self.room_id
        if room_id is not None and not self.on_janus:
            self.still_in_room(lambda: self.api.call(
                "POST", f"/rooms/{room_id}/messages", self.token, {"text": "great space!"}),
                "send message")

    @task(1)
    def ask_to_speak(self) -> None:
        room_id = self.room_id
        if room_id is not None and random.random() < 0.2:
            self.ask_to_speak_now(room_id)

    @task(1)
    def leave_for_another_room(self) -> None:
        if random.random() < 0.1:
            self.switch_rooms()


class SpeakerUser(AudienceUser):
    """Joins publishing a voice with timing marks, asks to speak until the host accepts, and
    accepts the host's invitation to speak (it follows the room's events to see one)."""

    weight = 1
    publishes = True
    role = "speaker"

    invited = False
    """Set from the room's event stream when the host invites this user to speak."""

    def joined(self, room_id: str) -> None:
        self.invited = False
        if not self.on_janus:
            self.follow_room_events(room_id, self._on_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "invited" and event.get("user") == self.user_id:
            self.invited = True

    @task(3)
    def ask_to_speak(self) -> None:
        room_id = self.room_id
        if room_id is None:
            return
        if self.on_janus:  # in the AudioBridge, every participant is on stage
            self.report_audio()
            return
        self.check_events()
        if self.invited:
            self.invited = False
            with contextlib.suppress(Rejected):
                self.timed("accept invitation to speak", lambda: self.api.call(
                    "POST", f"/rooms/{room_id}/invitation/accept", self.token),
                    expected=(403, 404, 409))
            return
        try:
            state = self.timed("room state", lambda: self.api.room(self.token, room_id),
                               expected=(404,))
        except Rejected:
            self.switch_rooms()
            return
        if self.user_id in state.speakers or self.user_id in state.cohosts:
            self.report_audio()
            return
        self.ask_to_speak_now(room_id)

    @task(1)
    def step_down_or_leave(self) -> None:
        if random.random() < 0.15:
            self.switch_rooms()


def _audio(name: str, value: float, request_type: str = AUDIO) -> None:
    events.request.fire(request_type=request_type, name=name, response_time=value,
                        response_length=0, exception=None, context={})


async def _awaitable(make: Callable[[], Awaitable[T]]) -> T:
    return await make()

"""Real aiortc peers over loopback, real Opus: what each participant actually hears."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from media_bench.client.api import ApiClient
from media_bench.client.bots import Bot, ListenerBot, ProbeMode, SpeakerBot
from media_bench.client.marks import Signal
from media_bench.client.native_count import FAST_COUNT_VARIABLE
from media_bench.client.stream_counter import StreamCounter
from media_bench.common.audio import band_ratio
from media_bench.server.fast_send import FAST_SEND_VARIABLE
from media_bench.server.harness import running_server
from media_bench.server.settings import FanOut, Settings
from media_bench.server.users import User, UserDirectory
from spaces_core.errors import Refused

pytestmark = pytest.mark.timeout(90)

USERS = UserDirectory([User("host", 5000), *(User(f"u{i}", 10) for i in range(10))])
HOST_HZ, GUEST_HZ = 440.0, 1000.0
HEARD, UNHEARD = 0.1, 0.01


class Room:
    """A live room with a host speaking HOST_HZ, and helpers to add bots and listen."""

    def __init__(self, api: ApiClient, rid: str, host_token: str) -> None:
        self.api, self.rid, self.host_token = api, rid, host_token
        self.bots: list[Bot] = []

    async def add(self, user: str, hz: float | None = None, probe: ProbeMode = "arrival",
                  speaker: bool = False, lag: float = 0.0) -> Bot:
        """A listener, or a speaker (of a tone at ``hz``, else of speech) whose frames go out
        ``lag`` seconds late."""
        token = await self.api.token(user)
        if hz is None and not speaker:
            bot: Bot = ListenerBot(self.api, token, self.rid, probe, record=True)
        else:
            bot = SpeakerBot(self.api, token, self.rid, Signal(tone_hz=hz), record=True, lag=lag)
        self.bots.append(bot)
        await bot.join()
        await bot.wait_audio(10)
        return bot

    async def promote(self, user: str, bot: Bot) -> None:
        await self.api.act(self.host_token, self.rid, user, "invite")
        await self.api.call("POST", f"/rooms/{self.rid}/invitation/accept", bot.token)

    async def listen(self, seconds: float = 1.5) -> dict[Bot, np.ndarray]:
        """What every bot hears over the next ``seconds`` (after changes have settled)."""
        await asyncio.sleep(0.3)
        for bot in self.bots:
            bot.probe.recording.clear()
        await asyncio.sleep(seconds)
        empty = np.zeros(0, dtype=np.int16)
        return {bot: np.concatenate([empty, *bot.probe.recording]) for bot in self.bots}


def with_room(body: Callable[[Room], Awaitable[Any]], fanout: FanOut = "shared") -> Any:
    async def scenario() -> Any:
        settings = Settings(fanout=fanout)
        async with (
            running_server(settings, USERS) as running,
            ApiClient(running.url) as api,
        ):
            token = await api.token("host")
            rid = (await api.create_room(token, "tones")).id
            room = Room(api, rid, token)
            try:
                return await body(room)
            finally:
                for bot in room.bots:
                    await bot.close()

    return asyncio.run(scenario())


def hears(audio: np.ndarray, hz: float) -> bool:
    return band_ratio(audio, hz) > HEARD


def silent_at(audio: np.ndarray, hz: float) -> bool:
    return band_ratio(audio, hz) < UNHEARD


@pytest.mark.parametrize(
    ("fanout", "native_send"),
    [("shared", True), ("direct", True), ("naive", True), ("direct", False)],
    ids=["shared", "direct", "naive", "direct-pure-python"],
)
def test_listeners_hear_both_speakers_and_each_speaker_only_the_other(
    fanout: FanOut, native_send: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``direct-pure-python``: the direct design with its native send off (``fast_send``),
    and the counting listener's native receive path off (``native_count``)."""
    if not native_send:
        monkeypatch.setenv(FAST_SEND_VARIABLE, "0")
        monkeypatch.setenv(FAST_COUNT_VARIABLE, "0")
    async def body(room: Room) -> None:
        host = await room.add("host", HOST_HZ)
        guest = await room.add("u1", GUEST_HZ)
        listeners = [await room.add("u2"), await room.add("u3", probe="full")]
        counter = await room.add("u4", probe="count")
        levels: list[dict[str, Any]] = []

        async def watch() -> None:
            async for event in room.api.events(listeners[0].token, room.rid):
                if event["type"] == "levels":
                    levels.append(event)

        watcher = asyncio.ensure_future(watch())
        await room.promote("u1", guest)
        heard = await room.listen()
        watcher.cancel()
        assert levels and sorted(levels[-1]["speaking"]) == ["host", "u1"]
        assert all(level > -50 for level in levels[-1]["levels"].values())
        for listener in listeners:
            assert hears(heard[listener], HOST_HZ) and hears(heard[listener], GUEST_HZ)
            assert listener.probe.arrival_marks.latencies  # timing marks came through
        assert hears(heard[host], GUEST_HZ) and silent_at(heard[host], HOST_HZ)
        assert hears(heard[guest], HOST_HZ) and silent_at(heard[guest], GUEST_HZ)
        # The full aiortc receive path hears the marks too, later (its 80 ms jitter buffer).
        arrival = np.median(listeners[1].probe.arrival_marks.latencies)
        assert np.median(listeners[1].probe.played_marks.latencies) > arrival
        # The cheap counting path sees every packet of a steady stream.
        assert isinstance(counter.probe.counter, StreamCounter) != native_send
        received, expected = counter.probe.counters()
        assert received > 50 and received == expected and counter.probe.jitter < 0.02
        state = await room.api.room(room.host_token, room.rid)
        assert sorted(state.speaking) == ["host", "u1"]
        assert state.listener_count == 3

    with_room(body, fanout)


def test_muted_then_removed_speaker_is_no_longer_heard_and_cannot_rejoin() -> None:
    async def body(room: Room) -> None:
        await room.add("host", HOST_HZ)
        guest = await room.add("u1", GUEST_HZ)
        listener = await room.add("u2")
        await room.promote("u1", guest)
        assert hears((await room.listen(1.0))[listener], GUEST_HZ)

        await room.api.act(room.host_token, room.rid, "u1", "mute")
        muted = (await room.listen())[listener]
        assert silent_at(muted, GUEST_HZ) and hears(muted, HOST_HZ)

        await room.api.act(guest.token, room.rid, "u1", "unmute")
        assert hears((await room.listen(1.0))[listener], GUEST_HZ)

        await room.api.act(room.host_token, room.rid, "u1", "remove")
        heard = await room.listen()
        assert silent_at(heard[listener], GUEST_HZ) and hears(heard[listener], HOST_HZ)
        assert len(heard[guest]) == 0  # the server dropped the removed user's connection

        again = SpeakerBot(room.api, guest.token, room.rid, Signal(tone_hz=GUEST_HZ))
        room.bots.append(again)
        with pytest.raises(Refused) as refused:
            await again.join()
        assert refused.value.status == 403 and "removed" in refused.value.reason
        state = await room.api.room(room.host_token, room.rid)
        assert state.speakers == [] and state.listener_count == 1

    with_room(body)


@pytest.mark.parametrize("fanout", ["shared", "direct"])
def test_moving_a_speaker_back_to_listener_gives_it_the_room_mix(fanout: FanOut) -> None:
    async def body(room: Room) -> None:
        await room.add("host", HOST_HZ)
        guest = await room.add("u1", GUEST_HZ)
        listener = await room.add("u2")
        await room.promote("u1", guest)
        heard = await room.listen(1.0)
        assert silent_at(heard[guest], GUEST_HZ)
        await room.api.act(room.host_token, room.rid, "u1", "listener")
        heard = await room.listen()
        # Back as a listener: its audio is no longer mixed, and it hears the room mix.
        assert silent_at(heard[listener], GUEST_HZ) and hears(heard[guest], HOST_HZ)
        assert guest.probe.packets >= listener.probe.packets - 10  # no gap at the switch

    with_room(body, fanout)


def test_disconnects_leaves_and_ending_the_room_stop_the_media() -> None:
    async def body(room: Room) -> None:
        host = await room.add("host", HOST_HZ)
        quitter, leaver, stayer = await room.add("u1"), await room.add("u2"), await room.add("u3")
        await quitter.close()  # the client just goes away
        await room.api.leave(leaver.token, room.rid)
        for _ in range(50):
            state = await room.api.room(room.host_token, room.rid)
            if state.listener_count == 1:
                break
            await asyncio.sleep(0.1)
        assert state.listener_count == 1
        heard = await room.listen(1.0)
        assert len(heard[leaver]) == 0 and hears(heard[stayer], HOST_HZ)
        await room.api.end_room(room.host_token, room.rid)
        heard = await room.listen(1.0)
        assert len(heard[stayer]) == 0 and len(heard[host]) == 0

    with_room(body)


@pytest.mark.parametrize("lag", [0.7, 3.0])
def test_a_late_speaker_reads_its_delay_at_arrival_and_at_the_ear(lag: float) -> None:
    # The guest sends every frame ``lag`` late beside an on-time host, both speaking with
    # marks. Each mark says when it was spoken, so the delay reads as itself, not modulo the
    # 0.5 s between marks. On loopback an on-time mark arrives within `arrived` s (a frame or two
    # plus the mixer's tick); aiortc's receive path adds its 80 ms jitter buffer and any stall.
    arrived, played = 0.15, 0.5

    def near(latencies: list[float], target: float, within: float) -> list[float]:
        return [v for v in latencies if target <= v <= target + within]

    async def body(room: Room) -> None:
        host = await room.add("host", None, speaker=True)
        guest = await room.add("u1", None, speaker=True, lag=lag)
        listener, ear = await room.add("u2"), await room.add("u3", probe="full")
        await room.promote("u1", guest)
        await asyncio.sleep(lag + 0.5)  # the guest's first late frames reach the mix
        for bot in room.bots:
            bot.probe.arrival_marks.latencies.clear()
            bot.probe.played_marks.latencies.clear()
        lost_before = host.probe.arrival_marks.lost
        await asyncio.sleep(5.0)
        heard = listener.probe.arrival_marks.latencies
        late, on_time = near(heard, lag, arrived), near(heard, 0.0, arrived)
        assert len(late) + len(on_time) == len(heard), f"misread: {heard}"
        assert len(late) >= 6 and len(on_time) >= 6, heard  # of 10 each; some blur together
        assert len(near(ear.probe.played_marks.latencies, lag, played)) >= 6
        # N-1: the host hears only the late guest, every mark; the guest only the host.
        assert len(near(host.probe.arrival_marks.latencies, lag, arrived)) >= 9
        assert host.probe.arrival_marks.lost - lost_before <= 1
        assert len(near(guest.probe.arrival_marks.latencies, 0.0, arrived)) >= 9
        # Two seconds muted: the host misses about four of the guest's marks, counted as lost
        # once the next one arrives, not matched to it.
        await room.api.act(room.host_token, room.rid, "u1", "mute")
        await asyncio.sleep(2.0)
        await room.api.act(guest.token, room.rid, "u1", "unmute")
        await asyncio.sleep(lag + 1.0)
        assert 3 <= host.probe.arrival_marks.lost - lost_before <= 6
        assert all(lag <= v <= lag + arrived for v in host.probe.arrival_marks.latencies)

    with_room(body)

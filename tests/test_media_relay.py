"""Origin to edge relay, two media hosts on loopback in one loop: what each participant hears
(by FFT), wherever it is connected, and how the relay fails."""

from __future__ import annotations

import asyncio
import hmac
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from media_bench.client import bots as bot_module
from media_bench.common import aiortc_internals as internals
from media_bench.common.codec import OpusEncoder
from media_bench.server.metrics import Metrics
from media_bench.server.mixer import SPEAKER_TIMEOUT
from media_bench.server.relay import TAG_BYTES, relay_key
from media_bench.server.relay_wire import ListenerMix, Uplink, encode
from media_bench.server.settings import Settings
from tests.relay_front import ROOM, RelayFront, relayed_room
from tests.test_media_audio import hears, silent_at
from tests.test_media_faults import protocols_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

HOST_HZ, GUEST_HZ, EDGE_HZ, FORGED_HZ = 440.0, 1000.0, 700.0, 1500.0


def run(body: Callable[[RelayFront], Awaitable[Any]], settings: Settings | None = None) -> Any:
    async def scenario() -> Any:
        async with relayed_room(settings) as front:
            return await body(front)

    return asyncio.run(scenario())


def sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.registry.get_sample_value(name, labels or {}) or 0.0


async def two_speakers_at_the_origin(front: RelayFront) -> None:
    await front.add("host", front.origin, HOST_HZ, speaker=True)
    await front.add("guest", front.origin, GUEST_HZ, speaker=True)


def test_edge_listeners_hear_both_origin_speakers_and_the_edge_encodes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoders: set[int] = set()
    encode_ = OpusEncoder.encode

    def counted(self: OpusEncoder, pcm: Any, pts: int) -> Any:
        encoders.add(id(self))
        return encode_(self, pcm, pts)

    monkeypatch.setattr(OpusEncoder, "encode", counted)

    async def body(front: RelayFront) -> None:
        await two_speakers_at_the_origin(front)
        await front.add("e1", front.edge)
        await front.add("e2", front.edge)
        await front.add("o1", front.origin)
        encoders.clear()
        heard = await front.listen()
        for user in ("e1", "e2", "o1"):
            assert hears(heard[user], HOST_HZ) and hears(heard[user], GUEST_HZ), user
        assert hears(heard["host"], GUEST_HZ) and silent_at(heard["host"], HOST_HZ)
        # Every encode in the window was the origin mixer's or a bot's voice: none on the edge.
        mixer = front.origin.origins[ROOM].mixer
        bots = {id(voice._encoder) for voice in bot_module._voices.values()}
        ours = {id(mixer._listener_encoder), *(id(o.encoder) for o in mixer.outputs.values())}
        assert encoders and encoders <= ours | bots
        edge_metrics, origin_metrics = front.edge.metrics, front.origin.metrics
        assert sample(edge_metrics, "spaces_mixer_encodes_total") == 0
        assert sample(edge_metrics, "spaces_rtp_packets_sent_total") > 100
        edge_at = "{}:{}".format(*front.edge.relay_address)
        origin_at = "{}:{}".format(*front.origin.relay_address)
        sent = sample(
            origin_metrics, "spaces_relay_packets_total", {"direction": "sent", "peer": edge_at}
        )
        received = sample(
            edge_metrics, "spaces_relay_packets_total", {"direction": "received", "peer": origin_at}
        )
        assert sent > 50 and received > 50
        assert sample(edge_metrics, "spaces_relay_delay_seconds_count") > 50
        assert front.origin.load() == {"rooms": 1, "edges": 0, "listeners": 1, "speakers": 2}
        assert front.edge.load() == {"rooms": 0, "edges": 1, "listeners": 2, "speakers": 0}

    run(body)


def test_an_edge_listener_promoted_to_speaker_is_heard_everywhere_and_hears_the_others() -> None:
    async def body(front: RelayFront) -> None:
        await two_speakers_at_the_origin(front)
        await front.add("e1", front.edge, EDGE_HZ)  # publishes, but joins as a listener
        await front.add("e2", front.edge)
        await front.add("o1", front.origin)
        heard = await front.listen(1.0)
        assert all(silent_at(heard[u], EDGE_HZ) for u in ("e2", "o1", "host"))
        assert hears(heard["e1"], HOST_HZ) and hears(heard["e1"], GUEST_HZ)

        await front.promote("e1")
        heard = await front.listen()
        for user in ("o1", "e2", "host", "guest"):
            assert hears(heard[user], EDGE_HZ), user
        e1 = heard["e1"]
        assert hears(e1, HOST_HZ) and hears(e1, GUEST_HZ) and silent_at(e1, EDGE_HZ)
        assert front.edge.load() == {"rooms": 0, "edges": 1, "listeners": 1, "speakers": 1}

        await front.demote("e1")
        heard = await front.listen()
        for user in ("o1", "e2", "e1"):
            assert silent_at(heard[user], EDGE_HZ) and hears(heard[user], HOST_HZ), user
        assert front.bots["e1"].probe.packets >= front.bots["e2"].probe.packets - 10  # no gap

    run(body)


def test_leaving_disconnecting_and_closing_the_room_stop_the_edge_media() -> None:
    async def body(front: RelayFront) -> None:
        await two_speakers_at_the_origin(front)
        for user in ("e1", "e2", "e3"):
            await front.add(user, front.edge)
        await front.add("o1", front.origin)
        await front.leave("e1")  # the rules say it is gone: the next sync closes its peer
        front.members.remove("e2")
        await front.edge.disconnect(ROOM, "e2")  # the front closes it at once
        heard = await front.listen(1.0)
        assert len(heard["e1"]) == 0 and len(heard["e2"]) == 0
        assert hears(heard["e3"], HOST_HZ) and hears(heard["o1"], GUEST_HZ)
        for user in ("e1", "e2"):
            assert await state_of(front, user) == "closed"
        assert list(front.edge.edges[ROOM].peers) == ["e3"]

        await front.close_room(front.origin)
        await front.close_room(front.edge)
        heard = await front.listen(1.0)
        assert all(len(audio) == 0 for audio in heard.values())
        assert (
            front.origin.load()
            == front.edge.load()
            == {
                "rooms": 0,
                "edges": 0,
                "listeners": 0,
                "speakers": 0,
            }
        )
        assert front.drops == []  # closed by the control plane: nobody was dropped

    run(body)


async def state_of(front: RelayFront, user: str, timeout: float = 5.0) -> str:
    """The bot's connection state once it is closed (or the timeout passed)."""
    pc = front.bots[user].pc
    assert pc is not None
    for _ in range(int(timeout / 0.1)):
        if pc.connectionState in ("closed", "failed"):
            break
        await asyncio.sleep(0.1)
    return str(pc.connectionState)


def test_an_edge_whose_origin_went_silent_drops_its_peers_as_relay_lost() -> None:
    settings = Settings(relay_timeout=1.0)

    async def body(front: RelayFront) -> float:
        await two_speakers_at_the_origin(front)
        await front.add("e1", front.edge)
        await front.add("e2", front.edge, EDGE_HZ)
        await front.promote("e2")
        stopped = asyncio.get_running_loop().time()
        await front.close_room(front.origin)  # the edge is not told
        while len(front.drops) < 2:
            assert asyncio.get_running_loop().time() - stopped < 3 * settings.relay_timeout
            await asyncio.sleep(0.05)
        lost_after = asyncio.get_running_loop().time() - stopped
        assert sorted(front.drops) == [(ROOM, "e1", "relay_lost"), (ROOM, "e2", "relay_lost")]
        assert front.edge.edges[ROOM].peers == {}
        assert await state_of(front, "e1") == "closed"
        return lost_after

    lost_after = run(body, settings)
    print(f"\nedge peers dropped {lost_after:.2f} s after the origin stopped relaying")
    # timed from the last datagram, which may have left a tick before the origin closed
    assert settings.relay_timeout - 0.05 <= lost_after < 2 * settings.relay_timeout


def test_forged_relay_datagrams_are_counted_and_never_heard() -> None:
    """Forgeries three ways: untagged from a stranger; tagged with the key (this process's,
    which the test knows) but from an address no room registered; untagged from the origin's
    own relay address, as a forged source address would look. None is heard; each is counted."""

    async def body(front: RelayFront) -> None:
        await two_speakers_at_the_origin(front)
        await front.add("e1", front.edge)
        await front.add("e2", front.edge, EDGE_HZ)
        await front.promote("e2")
        await front.add("o1", front.origin)
        tone = OpusEncoder()
        t = np.arange(960) / 48_000
        forger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        forger.bind(("127.0.0.1", 0))
        key = relay_key(None)
        origin_socket = front.origin.relay._transport  # the origin's own address, registered
        assert origin_socket is not None
        sent = {"relay_unauthenticated": 0, "relay_unregistered": 0}
        try:
            for tick in range(100):
                pcm = (8000 * np.sin(2 * np.pi * FORGED_HZ * (t + tick * 0.02))).astype(np.int16)
                packet = tone.encode(pcm, tick * 960)
                assert packet is not None
                payload = bytes(packet)
                mix = encode(ListenerMix(ROOM, 10**6 + tick, 0, payload))
                uplink = encode(Uplink(ROOM, "e2", payload))
                signed = uplink + hmac.digest(key, uplink, "sha256")[:TAG_BYTES]
                # as if from the origin, to the edge; as if from the edge, to the origin
                for datagram, host in ((mix, front.edge), (uplink, front.origin),
                                       (b"not a relay datagram", front.origin)):
                    forger.sendto(datagram, host.relay_address)
                    sent["relay_unauthenticated"] += 1
                forger.sendto(signed, front.origin.relay_address)
                sent["relay_unregistered"] += 1
                origin_socket.sendto(mix, front.edge.relay_address)
                sent["relay_unauthenticated"] += 1
                if tick == 25:
                    for bot in front.bots.values():
                        bot.probe.recording.clear()
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)
            heard = {
                user: np.concatenate([np.zeros(0, np.int16), *bot.probe.recording])
                for user, bot in front.bots.items()
            }
        finally:
            forger.close()
        for user in ("e1", "o1"):
            assert silent_at(heard[user], FORGED_HZ) and hears(heard[user], EDGE_HZ), user
        for reason, count in sent.items():
            rejected = sum(sample(host.metrics, "spaces_drops_total", {"reason": reason})
                           for host in (front.origin, front.edge))
            assert rejected == count, reason

    run(body)


def test_the_relay_delay_histogram_sees_a_slow_hop() -> None:
    async def body(front: RelayFront) -> tuple[float, float]:
        await two_speakers_at_the_origin(front)
        await front.add("e1", front.edge)
        metrics = front.edge.metrics
        window = ("spaces_relay_delay_seconds_count", "spaces_relay_delay_seconds_sum")

        async def observe(seconds: float) -> tuple[float, float, float]:
            """Observations, their mean, and the share within 40 ms, over ``seconds``."""
            before = [sample(metrics, name) for name in window]
            fast = sample(metrics, "spaces_relay_delay_seconds_bucket", {"le": "0.04"})
            await asyncio.sleep(seconds)
            count, total = (sample(metrics, n) - b for n, b in zip(window, before, strict=True))
            within = sample(metrics, "spaces_relay_delay_seconds_bucket", {"le": "0.04"}) - fast
            return count, total / max(count, 1), within / max(count, 1)

        count, quick, share = await observe(1.0)
        assert count > 30 and share > 0.9
        relay = front.edge.relay
        deliver = relay.datagram_received
        loop = asyncio.get_running_loop()

        def slowly(data: bytes, addr: Any) -> None:  # the edge's receive path, 50 ms late
            loop.call_later(0.05, deliver, data, addr)

        relay.datagram_received = slowly  # type: ignore[method-assign]
        await asyncio.sleep(0.2)
        count, slow, share = await observe(1.0)
        assert count > 30 and share < 0.1
        heard = await front.listen(1.0)
        assert hears(heard["e1"], HOST_HZ)  # late, but all there
        return quick, slow

    quick, slow = run(body)
    print(f"\nrelay hop: {quick * 1000:.1f} ms on loopback, {slow * 1000:.1f} ms delayed 50 ms")
    assert quick < 0.02 and 0.05 <= slow < 0.1


def test_a_vanished_edge_speaker_is_dropped_by_the_origins_receive_timeout() -> None:
    async def body(front: RelayFront) -> float:
        await two_speakers_at_the_origin(front)
        await front.add("e1", front.edge, EDGE_HZ)
        await front.add("o1", front.origin)
        await front.promote("e1")
        assert hears((await front.listen(1.0))["o1"], EDGE_HZ)
        loop = asyncio.get_running_loop()
        vanished = loop.time()
        for protocol in protocols_of(front.bots["e1"]):
            internals.blackhole(protocol)  # no DTLS close, no leave: the process is gone
        while not front.drops:
            assert loop.time() - vanished < SPEAKER_TIMEOUT + 3
            await asyncio.sleep(0.1)
        dropped_after = loop.time() - vanished
        assert front.drops == [(ROOM, "e1", "receive_timeout")]
        await asyncio.sleep(0.2)  # the front's sync closes its peer on the edge
        assert front.edge.edges[ROOM].peers == {}
        heard = (await front.listen(1.0))["o1"]
        assert hears(heard, HOST_HZ) and silent_at(heard, EDGE_HZ)
        return dropped_after

    dropped_after = run(body)
    print(f"\nthe vanished edge speaker was dropped after {dropped_after:.1f} s")
    assert dropped_after > SPEAKER_TIMEOUT - 0.5

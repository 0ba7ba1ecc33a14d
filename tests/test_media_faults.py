"""Faults: a speaker that vanishes without leaving, a listener that stops reading (dropped when
it stops answering consent checks), a lossy uplink. What the others hear is checked by FFT;
drops are counted in /metrics by reason."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import pytest

from media_bench.client.api import ApiClient
from media_bench.client.bots import Bot
from media_bench.common import aiortc_internals as internals
from media_bench.server.harness import Running
from media_bench.server.mixer import SPEAKER_TIMEOUT
from media_bench.server.settings import Settings
from tests.test_media_abuse import run
from tests.test_media_audio import GUEST_HZ, HOST_HZ, Room, hears, silent_at, with_room

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def protocols_of(bot: Bot) -> list[Any]:
    assert bot.pc is not None
    transport = bot.pc.getTransceivers()[0].receiver.transport
    return list(internals.ice_protocols(transport))


def is_rtp(datagram: bytes) -> bool:
    """RTP, not RTCP, STUN or DTLS (RFC 5761 / 7983 demultiplexing)."""
    return len(datagram) >= 12 and 127 < datagram[0] < 192 and not 191 < datagram[1] < 224


async def drops(room: Room, reason: str) -> float:
    text = await room.api.metrics_text()
    found = re.search(rf'^spaces_drops_total{{reason="{reason}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_vanished_speaker_is_dropped_by_the_receive_timeout_and_the_room_plays_on() -> None:
    async def body(room: Room) -> float:
        await room.add("host", HOST_HZ)
        guest = await room.add("u1", GUEST_HZ)
        listener = await room.add("u2")
        await room.promote("u1", guest)
        assert hears((await room.listen(1.0))[listener], GUEST_HZ)

        vanished = asyncio.get_running_loop().time()
        for protocol in protocols_of(guest):
            internals.blackhole(protocol)  # no DTLS close, no leave: the process is gone
        while "u1" in (await room.api.room(room.host_token, room.rid)).speakers:
            assert asyncio.get_running_loop().time() - vanished < SPEAKER_TIMEOUT + 3
            await asyncio.sleep(0.1)
        dropped_after = asyncio.get_running_loop().time() - vanished
        assert await drops(room, "receive_timeout") == 1
        heard = (await room.listen(1.5))[listener]
        assert hears(heard, HOST_HZ) and silent_at(heard, GUEST_HZ)
        assert await drops(room, "consent_expired") == 0  # closed before its consent expired
        return dropped_after

    dropped_after = with_room(body, "direct")
    print(f"\nthe vanished speaker was dropped after {dropped_after:.1f} s")
    assert dropped_after > SPEAKER_TIMEOUT - 0.5


def test_five_percent_loss_on_a_speaker_uplink_keeps_the_mix_flowing() -> None:
    async def body(room: Room) -> tuple[int, int]:
        await room.add("host", HOST_HZ)
        guest = await room.add("u1", GUEST_HZ)
        listener = await room.add("u2")
        await room.promote("u1", guest)
        counts = {"rtp": 0, "lost": 0}

        def keep(datagram: bytes) -> bool:
            if not is_rtp(datagram):
                return True
            counts["rtp"] += 1
            if counts["rtp"] % 20 == 0:  # every 20th: 5%
                counts["lost"] += 1
                return False
            return True

        for protocol in protocols_of(guest):
            internals.filter_sends(protocol, keep)
        heard = (await room.listen(3.0))[listener]
        assert hears(heard, GUEST_HZ) and hears(heard, HOST_HZ)
        assert len(heard) >= 2.5 * 48_000  # the mix never stalled
        state = await room.api.room(room.host_token, room.rid)
        assert state.speakers == ["u1"]  # lossy is not gone
        return counts["rtp"], counts["lost"]

    sent, lost = with_room(body, "direct")
    print(f"\nuplink: {lost} of {sent} RTP packets lost ({100 * lost / sent:.1f}%)")
    assert sent > 100 and lost == sent // 20


STALLED_LISTENER_GONE = 25.0
"""Seconds within which a listener that stopped reading is dropped (aioice alone: over 30)."""


def test_a_listener_that_stops_reading_is_dropped_without_slowing_the_others() -> None:
    timeout = Settings().consent_timeout

    async def body(room: Room) -> tuple[float, int, int]:
        loop = asyncio.get_running_loop()
        await room.add("host", HOST_HZ)
        stalled = await room.add("u1", probe="full")  # read by aiortc, so pausable
        steady = await room.add("u2", probe="count")
        assert (await room.api.room(room.host_token, room.rid)).listener_count == 2
        await asyncio.sleep(0.5)
        before = steady.probe.counters()
        stopped = loop.time()
        for protocol in protocols_of(stalled):
            internals.pause_transport_reading(protocol)  # the kernel buffer fills, then drops
        while (await room.api.room(room.host_token, room.rid)).listener_count == 2:
            assert loop.time() - stopped < STALLED_LISTENER_GONE, "the stalled listener stayed"
            await asyncio.sleep(0.1)
        dropped_after = loop.time() - stopped
        assert await drops(room, "consent_expired") == 1
        assert await drops(room, "connection_failed") == await drops(room, "closed") == 0
        await asyncio.sleep(0.5)
        received, expected = (
            now - then for now, then in zip(steady.probe.counters(), before, strict=True)
        )
        assert steady.probe.jitter < 0.02
        return dropped_after, received, expected

    dropped_after, received, expected = with_room(body, "direct")
    print(
        f"\nthe stalled listener was dropped after {dropped_after:.1f} s (consent timeout "
        f"{timeout:g} s); beside it the steady one got {received} of {expected} packets"
    )
    assert dropped_after > timeout / 2
    assert expected >= 50 * dropped_after - 10 and received == expected


def test_an_event_subscriber_that_stops_reading_never_holds_up_the_others() -> None:
    settings = Settings(event_stall_timeout=1.0)
    events, pad = 1500, "x" * 8000

    async def body(running: Running, api: ApiClient) -> tuple[int, int, float, float]:
        host = await api.token("h0")
        rid = (await api.create_room(host, "events")).id
        room = running.server.rooms[rid].room
        for user in ("h0", "u1"):
            room.join(user)  # members without media: the streams are what is tested
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", int(running.url.rsplit(":", 1)[1])))
        stalled.sendall(f"GET /rooms/{rid}/events HTTP/1.1\r\nHost: x\r\n"
                        f"Authorization: Bearer {host}\r\n\r\n".encode())
        received: list[dict[str, Any]] = []

        async def read() -> None:
            async for event in api.events(await api.token("u1"), rid):
                if event.get("pad") is not None:
                    received.append(event)
                    if event["n"] == events - 1:
                        return

        reader = asyncio.ensure_future(read())
        while len(room.events) < 2:
            await asyncio.sleep(0.05)
        for n in range(events):
            room.publish({"type": "levels", "levels": {}, "speaking": [], "n": n, "pad": pad})
            if n % 10 == 9:
                await asyncio.sleep(0.005)  # a reading subscriber keeps up
        await asyncio.wait_for(reader, 20)
        for _ in range(50):
            if len(room.events) == 1:  # the stalled stream is gone; the reader's stays
                break
            await asyncio.sleep(0.1)
        metrics = await api.metrics_text()
        stalled.close()
        overflow = re.search(r'^spaces_drops_total{reason="event_overflow"} (\S+)$', metrics, re.M)
        closed = re.search(r'^spaces_drops_total{reason="event_stalled"} (\S+)$', metrics, re.M)
        assert overflow and closed
        return len(received), len(room.events), float(overflow[1]), float(closed[1])

    got, still_subscribed, overflowed, stalled_streams = run(body, settings)
    print(f"\nreading subscriber: {got} of {events} events; the stalled one lost "
          f"{overflowed:.0f} and was closed ({stalled_streams:.0f})")
    assert got == events and still_subscribed == 1
    assert overflowed > 0 and stalled_streams == 1

"""The media host's API without peers: what it refuses, and the relay's datagram format."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from media_bench.server.media_host import MediaHost
from media_bench.server.relay_wire import (
    ListenerMix,
    SpeakerMix,
    Uplink,
    WireError,
    decode,
    encode,
)
from media_bench.server.settings import Settings
from media_bench.server.stage import Stage
from spaces_core.errors import Refused
from tests.relay_front import host_metrics


def test_every_message_survives_the_wire() -> None:
    for message in (
        ListenerMix("r1", 2**40, 1_700_000_000_000_000_000, b"\x01opus"),
        SpeakerMix("r1", "zoë", 7, b""),
        Uplink("room-é", "u1", bytes(range(256))),
    ):
        assert decode(encode(message)) == message


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        b"\x01",
        b"\x02\x01\x02r1",
        b"\x01\x09\x02r1",
        b"\x01\x01\x05r1",
        b"\x01\x03\x02\xff\xfe",
    ],
)
def test_what_is_not_a_relay_message_is_refused(datagram: bytes) -> None:
    with pytest.raises(WireError):
        decode(datagram)


def test_a_stage_takes_json_and_loses_a_member() -> None:
    stage = Stage.of(["a", "b", "c"], ["a", "b"], ["b"], {"b": ["10.0.0.2", "4000"]})
    assert stage.remote == {"b": ("10.0.0.2", 4000)}
    gone = stage.without("b")
    assert gone == Stage(frozenset({"a", "c"}), ("a",), (), {})


async def refusal(call: Awaitable[object]) -> int:
    with pytest.raises(Refused) as refused:
        await call
    return refused.value.status


def test_the_host_refuses_what_it_does_not_carry() -> None:
    async def body() -> list[int]:
        host = MediaHost(Settings(), host_metrics())
        await host.open_origin("r1")
        statuses = [
            await refusal(host.connect("nope", "u1", "v=0")),
            await refusal(host.sync("nope", [], [], [], {})),
            await refusal(host.disconnect("nope", "u1")),
            await refusal(host.close_room("nope")),
            await refusal(host.open_origin("r1")),  # twice
            await refusal(host.add_edge("r1", ["127.0.0.1", 9])),  # relay not started
            await refusal(host.commit("r1", "u1")),  # nothing pending
            await refusal(host.connect("r1", "u1", "v=0\r\nm=video 9 x\r\n")),  # no audio
        ]
        await host.start()
        statuses.append(await refusal(host.open_edge("r1", ["127.0.0.1", 9])))  # its origin
        naive = MediaHost(Settings(fanout="naive"), host_metrics())
        await naive.start()
        await naive.open_origin("r2")
        # a listener mix handed over as PCM cannot be relayed
        statuses.append(await refusal(naive.add_edge("r2", ["127.0.0.1", 9])))
        assert host.load() == {"rooms": 1, "edges": 0, "listeners": 0, "speakers": 0}
        await host.close()
        await naive.close()
        return statuses

    assert asyncio.run(body()) == [404, 404, 404, 404, 409, 409, 409, 400, 409, 409]

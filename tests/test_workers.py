"""``--workers 2``: one API process and two media worker processes. A room's origin fills, then
listeners spill to an edge on the other worker; everyone hears both speakers (FFT), a
promoted edge listener is heard everywhere, removal and end reach the edge's listeners, and
a full fleet answers 503."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import numpy as np
import pytest

from media_bench.client.api import ApiClient
from media_bench.client.bots import Bot, ListenerBot, SpeakerBot
from media_bench.client.marks import Signal
from media_bench.server.harness import Running, running_server
from media_bench.server.placement import PlacementLimits
from media_bench.server.settings import Settings
from media_bench.server.worker_client import RemoteMediaHost
from spaces_core.errors import Refused
from tests.test_media_audio import hears, silent_at

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

HOST_HZ, GUEST_HZ, EDGE_HZ = 440.0, 1000.0, 700.0


def run_on_server(settings: Settings, body: Callable[[Running], Awaitable[None]]) -> None:
    """``body`` against a server of these settings, in this process."""

    async def scenario() -> None:
        async with running_server(settings) as running:
            await body(running)

    asyncio.run(scenario())


def counted_in_sessions(listeners_per_worker: int) -> PlacementLimits:
    """Limits a test can count in: a speaker or listener is one session, a room or a relay
    link nothing, and a room or an edge opens where one listener still fits."""
    return PlacementLimits(
        listeners_per_worker=listeners_per_worker,
        room_cost=0,
        speaker_cost=1,
        relay_cost_per_edge=0,
        origin_headroom=0,
        min_open_slots=1,
        min_edge_slots=1,
    )


LIMITS = counted_in_sessions(3)
"""Host and guest (a listener-equivalent each) and one listener fill the origin; three
listeners an edge (a room or an edge opens where one listener still fits)."""


async def metric(url: str, name: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as answer:
        text = await answer.text()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found, name
    return float(found.group(1))


async def listen(bots: dict[str, Bot], seconds: float = 1.5) -> dict[str, np.ndarray]:
    await asyncio.sleep(0.5)
    for bot in bots.values():
        bot.probe.recording.clear()
    await asyncio.sleep(seconds)
    empty = np.zeros(0, dtype=np.int16)
    return {user: np.concatenate([empty, *bot.probe.recording]) for user, bot in bots.items()}


def test_listeners_spill_to_an_edge_worker_and_hear_the_room() -> None:
    # the workers on uvloop: the other loop the server offers (the in-process tests run
    # asyncio's), heard through by FFT here
    settings = Settings(workers=2, placement=LIMITS, event_loop="uvloop")

    async def body(running: Running) -> None:
        workers = running.server.workers
        urls = {
            carrier.worker_id: carrier.media.control_url
            for carrier in workers.fleet.carriers.values()
            if isinstance(carrier.media, RemoteMediaHost)
        }
        async with ApiClient(running.url) as api:
            users = [u["id"] for u in (await api.call("GET", "/users?limit=200"))["users"]]
            host_id = next(
                u["id"]
                for u in (await api.call("GET", "/users?limit=200"))["users"]
                if u["can_host"]
            )
            others = [u for u in users if u != host_id]
            host_token = await api.token(host_id)
            room = (await api.create_room(host_token, "spills")).id
            bots: dict[str, Bot] = {}
            tokens: dict[str, str] = {}

            async def add(name: str, user: str, bot: type[Bot], **kw: Any) -> None:
                tokens[name] = token = host_token if user == host_id else await api.token(user)
                bots[name] = bot(api, token, room, **kw)
                await bots[name].join()

            try:
                await add(
                    "host",
                    host_id,
                    SpeakerBot,
                    signal=Signal(tone_hz=HOST_HZ, marks=False),
                    record=True,
                )
                await add(
                    "guest",
                    others[0],
                    SpeakerBot,
                    signal=Signal(tone_hz=GUEST_HZ, marks=False),
                    record=True,
                )
                await api.act(host_token, room, others[0], "invite")
                await api.call("POST", f"/rooms/{room}/invitation/accept", tokens["guest"])
                await add("o1", others[1], ListenerBot, record=True)
                await add(
                    "e1",
                    others[2],
                    SpeakerBot,
                    signal=Signal(tone_hz=EDGE_HZ, marks=False),
                    record=True,
                )
                await add("e2", others[3], ListenerBot, record=True)
                await add("e3", others[4], ListenerBot, record=True)
                placed = running.server.rooms[room].media
                assert placed is not None
                where = {
                    name: placed.placed[user].carrier.worker_id
                    for name, user in zip(bots, [host_id, *others[:5]], strict=True)
                }
                origin_id, edge_id = placed.origin.worker_id, next(iter(placed.edges))
                assert {where[n] for n in ("host", "guest", "o1")} == {origin_id}
                assert {where[n] for n in ("e1", "e2", "e3")} == {edge_id} != {origin_id}
                origin_url, edge_url = urls[origin_id], urls[edge_id]
                pids = {w.pid for w in workers.pool.processes} if workers.pool else set()
                for worker in (origin_id, edge_id):
                    pid = await metric(running.url, f'spaces_worker_pid{{worker="{worker}"}}')
                    assert int(pid) in pids
                listeners = f'spaces_worker_load{{kind="listeners",worker="{edge_id}"}}'
                assert await metric(running.url, listeners) == 3

                with pytest.raises(Refused) as full:  # both workers are full
                    await add("x", others[5], ListenerBot)
                assert full.value.status == 503 and "full" in full.value.reason
                bots.pop("x", None)

                heard = await listen(bots)
                for name in ("o1", "e1", "e2", "e3"):
                    assert hears(heard[name], HOST_HZ) and hears(heard[name], GUEST_HZ), name
                    assert silent_at(heard[name], EDGE_HZ), name
                assert await metric(edge_url, "spaces_mixer_encodes_total") == 0
                assert await metric(origin_url, "spaces_mixer_encodes_total") > 50

                await api.act(host_token, room, others[2], "invite")  # e1, on the edge
                await api.call("POST", f"/rooms/{room}/invitation/accept", tokens["e1"])
                heard = await listen(bots)
                for name in ("host", "guest", "o1", "e2", "e3"):
                    assert hears(heard[name], EDGE_HZ), name
                assert hears(heard["e1"], HOST_HZ) and silent_at(heard["e1"], EDGE_HZ)

                await api.act(host_token, room, others[3], "remove")  # e2, on the edge
                await asyncio.sleep(1.0)
                removed = bots["e2"].pc
                assert removed is not None and removed.connectionState in ("closed", "failed")
                await asyncio.sleep(0.5)
                packets = bots["e3"].probe.packets
                await api.end_room(host_token, room)
                await asyncio.sleep(1.5)
                for name in ("o1", "e1", "e3"):
                    pc = bots[name].pc
                    assert pc is not None and pc.connectionState in ("closed", "failed"), name
                assert packets > 100
                assert all(
                    (w.listeners, w.rooms, w.edges, w.relays) == (0, 0, 0, 0)
                    for w in workers.fleet.loads.workers.values()
                )
            finally:
                for bot in bots.values():
                    await bot.close()

    run_on_server(settings, body)

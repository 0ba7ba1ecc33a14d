"""Two server nodes on one real PostgreSQL: node A in this process, node B a separate server
process. Each node lists both nodes' live rooms. A room created on A: listeners joining through
B are seated on B's worker (an edge relaying A's origin over UDP) and hear both speakers (FFT);
the host's actions on A reach them (audio and events); ending the room on A disconnects them.
Then B is killed with SIGKILL: A's room list leaves out B, which does not answer; A notices the
missing heartbeats, B's own room is ended as "node lost", the listener B carried for A's room
is dropped, and joins stop going to B."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from media_bench.client.api import ApiClient
from media_bench.client.bots import Bot, ListenerBot, SpeakerBot
from media_bench.client.marks import Signal
from media_bench.client.server_process import ServerProcess
from media_bench.server.harness import Running, running_server
from media_bench.server.settings import Settings
from spaces_core.errors import Refused
from tests.postgres import Postgres
from tests.test_media_audio import hears, silent_at
from tests.test_workers import counted_in_sessions

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

HOST_HZ, GUEST_HZ = 440.0, 1000.0
LIMITS = counted_in_sessions(2)
"""Host and guest fill a worker; listeners then go to another worker, the entry node's first."""


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def heard(bots: list[Bot], seconds: float = 1.5) -> list[np.ndarray]:
    await asyncio.sleep(0.5)
    for bot in bots:
        bot.probe.recording.clear()
    await asyncio.sleep(seconds)
    empty = np.zeros(0, dtype=np.int16)
    return [np.concatenate([empty, *bot.probe.recording]) for bot in bots]


def closed(bot: Bot) -> bool:
    return bot.pc is not None and bot.pc.connectionState in ("closed", "failed")


def test_two_nodes_share_rooms_and_notice_a_dead_one(
    postgres_cluster: tuple[Postgres | None, str],
) -> None:
    cluster, reason = postgres_cluster
    if cluster is None:
        pytest.skip(reason)
    url = cluster.new_database()
    settings = Settings(
        database=url, workers=1, placement=LIMITS, heartbeat_interval=0.3, lost_after=2.0
    )
    node_b = ServerProcess(["--database", url, "--workers", "1", "--worker-listeners", "200"])

    async def body(a: Running) -> None:
        fleet = a.server.workers.fleet
        await asyncio.to_thread(node_b.start)

        async def linked() -> bool:
            return len(fleet.carriers) == 2

        await until(linked, 10, "node A links node B's worker")
        b_worker = next(c for c in fleet.carriers.values() if c.node_id != fleet.node_id)
        bots: list[Bot] = []
        async with ApiClient(a.url) as via_a, ApiClient(node_b.url) as via_b:
            users = (await via_a.call("GET", "/users?limit=300"))["users"]
            hosts = [u["id"] for u in users if u["can_host"]]
            others = [u["id"] for u in users if not u["can_host"]]
            host = await via_a.token(hosts[0])
            room = (await via_a.create_room(host, "two nodes")).id
            browsing = await via_b.token(others[5])
            assert [r.id for r in (await via_b.rooms(browsing)).rooms] == [room]  # A's, via B

            async def join(api: ApiClient, user: str, bot: type[Bot], **kw: Any) -> Bot:
                token = host if user == hosts[0] else await api.token(user)
                made = bot(api, token, room, **kw)
                bots.append(made)
                await made.join()
                return made

            try:
                await join(via_a, hosts[0], SpeakerBot,
                           signal=Signal(tone_hz=HOST_HZ, marks=False))  # fmt: skip
                guest_token = await via_a.token(others[0])
                await join(via_a, others[0], SpeakerBot,
                           signal=Signal(tone_hz=GUEST_HZ, marks=False))  # fmt: skip
                await via_a.act(host, room, others[0], "invite")
                await via_a.call("POST", f"/rooms/{room}/invitation/accept", guest_token)
                listeners = [
                    await join(via_b, user, ListenerBot, record=True) for user in others[1:3]
                ]
                placed = a.server.rooms[room].media
                assert placed is not None
                assert {placed.placed[u].carrier for u in others[1:3]} == {b_worker}

                events: list[dict[str, Any]] = []
                b_token = listeners[0].token

                async def follow() -> None:
                    async for event in via_b.events(b_token, room):  # forwarded through B
                        events.append(event)

                following = asyncio.ensure_future(follow())
                for audio in await heard(listeners):
                    assert hears(audio, HOST_HZ) and hears(audio, GUEST_HZ)

                await via_a.act(host, room, others[0], "mute")  # a host action on A
                for audio in await heard(listeners):
                    assert hears(audio, HOST_HZ) and silent_at(audio, GUEST_HZ)
                assert any(e.get("type") == "muted" for e in events), events

                await via_a.end_room(host, room)
                await until(lambda: _all(closed, listeners), 10, "B's listeners disconnected")
                await asyncio.wait_for(following, 5)  # the stream ended with the room
                assert any(e.get("type") == "ended" for e in events)

                # B hosts a room of its own; A's new room has a listener on B.
                b_host = await via_b.token(hosts[1])
                b_room = (await via_b.create_room(b_host, "on node B")).id
                room = (await via_a.create_room(host, "again")).id
                await join(via_a, hosts[0], SpeakerBot, signal=Signal(tone_hz=HOST_HZ))
                guest = await join(via_a, others[0], SpeakerBot, signal=Signal(tone_hz=GUEST_HZ))
                await via_a.act(host, room, others[0], "invite")
                await via_a.call("POST", f"/rooms/{room}/invitation/accept", guest.token)
                await join(via_b, others[3], ListenerBot)
                placed = a.server.rooms[room].media
                assert placed is not None and placed.placed[others[3]].carrier is b_worker
                for api in (via_a, via_b):  # each node lists its own rooms and the other's
                    listed = {r.id: r for r in (await api.rooms(browsing)).rooms}
                    assert set(listed) == {room, b_room}
                    assert listed[room].listener_count == 1 and listed[b_room].host == hosts[1]

                await asyncio.to_thread(node_b.kill)  # SIGKILL: no goodbye
                killed = time.monotonic()
                # not yet marked lost, B is asked for its rooms and does not answer
                assert [r.id for r in (await via_a.rooms(browsing)).rooms] == [room]

                async def b_room_lost() -> bool:
                    try:
                        state = await via_a.call("GET", f"/rooms/{b_room}", host)
                    except Refused as unreachable:  # forwarded to B until B is marked lost
                        assert unreachable.status == 502
                        return False
                    return bool(state["ended_reason"] == "node lost")

                await until(b_room_lost, 10, "B's room ended as node lost")
                noticed = time.monotonic() - killed
                assert [r.id for r in (await via_a.rooms(browsing)).rooms] == [room]
                state = await via_a.call("GET", f"/rooms/{room}", host)
                assert state["listener_count"] == 0  # the listener B carried was dropped
                with pytest.raises(Refused) as refused:  # A's worker is full; B is gone
                    await join(via_a, others[4], ListenerBot)
                assert refused.value.status == 503
                assert not b_worker.alive
                print(f"\nnode B lost noticed {noticed:.1f} s after SIGKILL (lost after 2 s)")
            finally:
                for bot in bots:
                    await bot.close()

    async def scenario() -> None:
        async with running_server(settings) as a:
            try:
                await body(a)
            finally:
                await asyncio.to_thread(node_b.stop)

    asyncio.run(scenario())


async def _all(check: Callable[[Bot], bool], bots: list[Bot]) -> bool:
    return all([check(bot) for bot in bots])

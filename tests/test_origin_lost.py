"""``--workers 2``, and the worker mixing a room (its origin) is killed with SIGKILL: the room
cannot go on (its mixer is gone, for the listeners on the edge too), so it ends as "origin
lost", stored first; its listeners on the surviving edge get ``ended`` and are disconnected,
the edge closes the room, joins are refused, and the server goes on placing new rooms on the
worker that survived, which are heard (FFT)."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from media_bench.client.api import ApiClient
from media_bench.client.bots import Bot, ListenerBot, SpeakerBot
from media_bench.client.marks import Signal
from media_bench.server.harness import Running
from media_bench.server.settings import Settings
from media_bench.server.store.ledger import ORIGIN_LOST
from spaces_core.errors import Refused
from tests.test_media_audio import hears
from tests.test_nodes import until
from tests.test_workers import counted_in_sessions, listen, metric, run_on_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

HOST_HZ, AFTER_HZ = 440.0, 1000.0


def test_a_room_whose_origin_worker_dies_ends_for_everyone_and_the_server_goes_on() -> None:
    settings = Settings(workers=2, placement=counted_in_sessions(2))

    async def body(running: Running) -> None:
        server = running.server
        pool = server.workers.pool
        assert pool is not None
        async with ApiClient(running.url) as api:
            users = (await api.call("GET", "/users?limit=200"))["users"]
            hosts = [u["id"] for u in users if u["can_host"]]
            others = [u["id"] for u in users if not u["can_host"]]
            host_token = await api.token(hosts[0])
            room = (await api.create_room(host_token, "origin dies")).id
            bots: dict[str, Bot] = {}
            tokens: dict[str, str] = {}
            ended: list[dict[str, Any]] = []

            async def add(name: str, user: str, bot: type[Bot], **kw: Any) -> None:
                tokens[name] = token = await api.token(user)
                bots[name] = bot(api, token, room, **kw)
                await bots[name].join()

            async def follow(token: str) -> None:
                async for event in api.events(token, room):
                    if event.get("type") == "ended":
                        ended.append(event)

            try:
                await add("host", hosts[0], SpeakerBot,
                          signal=Signal(tone_hz=HOST_HZ, marks=False), record=True)
                await add("o1", others[0], ListenerBot, record=True)  # fills the origin
                await add("e1", others[1], ListenerBot, record=True)  # an edge, other worker
                await add("e2", others[2], ListenerBot, record=True)
                placed = server.rooms[room].media
                assert placed is not None
                origin, edge = placed.origin.worker_id, next(iter(placed.edges))
                assert placed.placed[others[1]].carrier.worker_id == edge != origin
                heard = await listen({n: bots[n] for n in ("e1", "e2")})
                assert all(hears(audio, HOST_HZ) for audio in heard.values())
                following = [asyncio.ensure_future(follow(tokens[n])) for n in ("e1", "e2")]
                await asyncio.sleep(0.3)
                before = await api.metrics_text()
                assert 'spaces_drops_total{reason="worker_lost"}' not in before

                pid = next(a.pid for a in pool.addresses
                           if server.workers.own_worker_ids()[a.index] == origin)
                os.kill(pid, signal.SIGKILL)

                async def ended_as_origin_lost() -> bool:
                    state = await api.call("GET", f"/rooms/{room}", host_token)
                    return bool(state["ended_reason"] == ORIGIN_LOST and not state["live"])

                await until(ended_as_origin_lost, 10, "the room ended as origin lost")
                record = server.state.ledger.room(room)  # stored, not only in memory
                assert record is not None and record.ended_reason == ORIGIN_LOST
                await asyncio.wait_for(asyncio.gather(*following), 5)  # the streams closed
                assert len(ended) == 2
                await asyncio.sleep(1.5)
                for name in ("e1", "e2"):  # the edge closed the room: its peers are gone
                    pc = bots[name].pc
                    assert pc is not None and pc.connectionState in ("closed", "failed"), name
                edge_load = server.workers.fleet.loads.workers[edge]
                assert (edge_load.listeners, edge_load.edges) == (0, 0)
                lost = await metric(running.url, 'spaces_drops_total{reason="worker_lost"}')
                assert lost == 2  # host and o1, on the dead origin
                with pytest.raises(Refused) as refused:
                    await add("late", others[3], ListenerBot)
                assert refused.value.status == 409
                bots.pop("late", None)

                # the server goes on: a new room opens on the worker that survived
                after_token = await api.token(hosts[1])
                after = (await api.create_room(after_token, "after")).id
                bots["after-host"] = SpeakerBot(api, after_token, after,
                                                signal=Signal(tone_hz=AFTER_HZ, marks=False))
                await bots["after-host"].join()
                bots["after-listener"] = ListenerBot(api, await api.token(others[4]), after,
                                                     record=True)
                await bots["after-listener"].join()
                placed_after = server.rooms[after].media
                assert placed_after is not None and placed_after.origin.worker_id == edge
                heard = await listen({"after": bots["after-listener"]})
                assert hears(heard["after"], AFTER_HZ)
            finally:
                for bot in bots.values():
                    await bot.close()

    run_on_server(settings, body)

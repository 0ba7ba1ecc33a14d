"""Abuse: a host opening room after room, a user flooding the API, rooms left idle."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from media_bench.client.api import ApiClient
from media_bench.client.bots import ListenerBot
from media_bench.common.contract import RATE_LIMITED, ROUTES, route
from media_bench.server.harness import Running, running_server
from media_bench.server.openapi import openapi_document
from media_bench.server.ratelimit import RateLimiter
from media_bench.server.settings import Settings
from media_bench.server.users import User, UserDirectory
from tests.test_media_api import expect

pytestmark = pytest.mark.timeout(60)

USERS = UserDirectory(
    [*(User(f"h{i}", 5000) for i in range(8)), *(User(f"u{i}", 10) for i in range(8))]
)


def run(body: Any, settings: Settings | None = None) -> Any:
    async def scenario() -> Any:
        async with (
            running_server(settings or Settings(), USERS) as running,
            ApiClient(running.url) as api,
        ):
            return await body(running, api)

    return asyncio.run(scenario())


def test_a_host_has_one_live_room_at_a_time() -> None:
    async def body(running: Running, api: ApiClient) -> None:
        host = await api.token("h0")
        first = await api.create_room(host, "first")
        reason = await expect(409, api.create_room(host, "second"))
        assert first.id in reason
        assert [room.id for room in (await api.rooms(host)).rooms] == [first.id]
        await api.end_room(host, first.id)
        again = await api.create_room(host, "after the first ended")
        assert again.id != first.id and again.live

    run(body)


def test_the_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)  # one token comes back every 0.5 s
    assert limiter.take("b") == 0.0  # each user has a bucket of its own
    now[0] = 0.5
    assert limiter.take("a") == 0.0 and limiter.take("a") > 0
    now[0] = 100.0
    assert [limiter.take("a") for _ in range(4)][-1] > 0  # refilled only up to the burst


def test_a_user_over_the_rate_gets_429_with_retry_after_and_others_do_not() -> None:
    settings = Settings(rate_per_second=5.0, rate_burst=10)

    async def body(running: Running, api: ApiClient) -> None:
        flooder, other = await api.token("u0"), await api.token("u1")
        path = api.base_url + route("list_rooms").url()

        async def get(token: str) -> tuple[int, str | None, Any]:
            headers = {"Authorization": f"Bearer {token}"}
            async with api.session.get(path, headers=headers) as response:
                return response.status, response.headers.get("Retry-After"), await response.json()

        answers = await asyncio.gather(*(get(flooder) for _ in range(30)))
        statuses = [status for status, _, _ in answers]
        allowed = statuses.count(200)  # the burst, and what refilled while they were sent
        assert settings.rate_burst <= allowed <= settings.rate_burst + 2
        refused = [(after, body) for status, after, body in answers if status == RATE_LIMITED]
        assert len(refused) == 30 - allowed
        for retry_after, reply in refused:
            assert retry_after is not None and int(retry_after) >= 1
            assert "u0" in reply["error"] and "requests/s" in reply["error"]
        assert (await get(other))[0] == 200  # the bound is per user
        await asyncio.sleep(int(refused[0][0] or 1))
        assert (await get(flooder))[0] == 200

    run(body, settings)


def test_every_route_needing_a_token_declares_401_and_429() -> None:
    document = openapi_document()
    for declared in ROUTES:
        responses = document["paths"][declared.path][declared.method.lower()]["responses"]
        has = {"401", str(RATE_LIMITED)} <= set(responses)
        assert has == declared.auth, declared.operation


def test_the_default_rate_bound_is_generous() -> None:
    # The swarm's busiest user (a host accepting, inviting, reading messages) and the
    # existing tests stay well under it.
    defaults = Settings()
    assert defaults.rate_per_second >= 20 and defaults.rate_burst >= 40


def encodes_total(metrics: str) -> float:
    line = next(x for x in metrics.splitlines() if x.startswith("spaces_mixer_encodes_total "))
    return float(line.split()[1])


def test_a_room_whose_listeners_left_encodes_nothing() -> None:
    async def body(running: Running, api: ApiClient) -> tuple[int, int]:
        host = await api.token("h0")
        rid = (await api.create_room(host, "emptied")).id
        listener = ListenerBot(api, await api.token("u0"), rid, probe="count")
        await listener.join()
        await listener.wait_audio(10)
        await api.leave(listener.token, rid)
        await listener.close()
        await asyncio.sleep(0.2)
        mixer = running.server.media[rid].mixer
        before = mixer.stats.ticks, mixer.stats.encodes
        await asyncio.sleep(1.0)
        return mixer.stats.ticks - before[0], mixer.stats.encodes - before[1]

    ticks, encodes = run(body)
    assert ticks >= 25 and encodes == 0


def test_an_idle_room_encodes_nothing_until_someone_listens() -> None:
    async def body(running: Running, api: ApiClient) -> tuple[int, int, int, float]:
        hosts = [await api.token(f"h{i}") for i in range(8)]
        rooms = [(await api.create_room(token, f"idle {i}")).id for i, token in enumerate(hosts)]
        await asyncio.sleep(1.0)
        mixers = [running.server.media[rid].mixer for rid in rooms]
        idle_ticks = sum(mixer.stats.ticks for mixer in mixers)
        idle_encodes = sum(mixer.stats.encodes for mixer in mixers)
        idle_metric = encodes_total(await api.metrics_text())

        listener = ListenerBot(api, await api.token("u0"), rooms[0], probe="count")
        await listener.join()
        await listener.wait_audio(10)
        before = mixers[0].stats.ticks, mixers[0].stats.encodes
        await asyncio.sleep(1.0)
        ticks, encodes = (now - then for now, then in zip(
            (mixers[0].stats.ticks, mixers[0].stats.encodes), before, strict=True))
        await listener.close()
        assert idle_metric == 0
        assert encodes_total(await api.metrics_text()) > 0
        return idle_ticks, idle_encodes, encodes, ticks / max(encodes, 1)

    idle_ticks, idle_encodes, listened_encodes, ticks_per_encode = run(body)
    print(f"\n8 idle rooms: {idle_ticks} ticks, {idle_encodes} encodes; one listener: "
          f"{listened_encodes} encodes in 1 s")
    assert idle_ticks == 0 and idle_encodes == 0  # nobody ever joined: the clock never started
    assert listened_encodes >= 40 and ticks_per_encode == pytest.approx(1.0, abs=0.1)

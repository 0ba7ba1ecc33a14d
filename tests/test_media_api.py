"""The control API over real HTTP on loopback: auth, rules, bad input, events, metrics."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from media_bench.client.api import ApiClient
from media_bench.common.contract import TicketTerms
from media_bench.server.harness import Running, running_server
from media_bench.server.openapi import ROUTES
from media_bench.server.settings import Settings
from media_bench.server.users import User, UserDirectory
from spaces_core.errors import Refused

pytestmark = pytest.mark.timeout(60)

USERS = UserDirectory(
    [
        User("host", 5000, age=35, hosted_30d=4),  # meets the Ticketed Spaces rules
        User("small", 599),
        *(User(f"u{i}", 10) for i in range(40)),
    ]
)


def run(body: Callable[[Running, ApiClient], Awaitable[Any]], **settings: Any) -> Any:
    async def scenario() -> Any:
        async with (
            running_server(Settings(**settings), USERS) as running,
            ApiClient(running.url) as api,
        ):
            return await body(running, api)

    return asyncio.run(scenario())


async def real_offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def join_peers(api: ApiClient, rid: str, tokens: list[str]) -> list[RTCPeerConnection]:
    """Join each token's user to the room with a real (receive-only) peer; close them after."""
    pcs = []
    for token in tokens:
        pc, offer = await real_offer()
        pcs.append(pc)
        await api.join(token, rid, offer)
    return pcs


async def raw(
    api: ApiClient, method: str, path: str, token: str | None = None, data: bytes = b""
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers["Content-Type"] = "application/json"
    async with api.session.request(method, api.base_url + path, data=data, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def expect(status: int, call: Awaitable[Any]) -> str:
    with pytest.raises(Refused) as info:
        await call
    assert info.value.status == status, info.value
    assert info.value.reason
    return info.value.reason


def test_tokens_forged_expired_and_missing_get_401() -> None:
    async def body(running: Running, api: ApiClient) -> None:
        token = await api.token("host")
        await api.call("GET", "/rooms", token)
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        expired = running.server.signer.issue("host", now=0.0)
        assert "signature" in await expect(401, api.call("GET", "/rooms", forged))
        assert "expired" in await expect(401, api.call("GET", "/rooms", expired))
        assert "missing" in await expect(401, api.call("GET", "/rooms"))
        await expect(401, api.call("POST", "/rooms", "garbage", {"title": "x"}))
        await expect(404, api.token("nobody"))
        assert running.server.rooms == {}

    run(body)


def test_only_users_at_threshold_create_rooms() -> None:
    async def body(running: Running, api: ApiClient) -> None:
        reason = await expect(403, api.create_room(await api.token("small"), "no"))
        assert "600 followers" in reason and "599" in reason
        room = await api.create_room(await api.token("host"), "yes")
        listed = await api.call("GET", "/rooms", await api.token("small"))
        assert [r["id"] for r in listed["rooms"]] == [room.id]
        assert room.host == "host" and room.live

    run(body)


def test_bad_input_is_4xx_json_and_changes_nothing() -> None:
    async def body(running: Running, api: ApiClient) -> None:
        host = await api.token("host")
        user = await api.token("u1")
        room = await api.create_room(host, "r", TicketTerms(price=2.5, cap=3))
        rid = room.id
        before = await api.room(host, rid)
        cases: list[tuple[int, str, str, str | None, bytes, str]] = [
            (400, "POST", "/rooms", host, b"{not json", "malformed JSON"),
            (400, "POST", "/rooms", host, b"[1, 2]", "JSON object"),
            (400, "POST", "/rooms", host, b'{"ticket": {"price": -1, "cap": 3}}', "price"),
            (400, "POST", "/rooms", host, b'{"ticket": {"price": 1, "cap": 0}}', "cap"),
            (400, "POST", "/rooms", host, b'{"title": 7}', "title"),
            (400, "POST", "/auth/token", None, b'{"user": 5}', "user"),
            (400, "POST", f"/rooms/{rid}/join", host, b'{"sdp": "hello"}', "SDP"),
            (400, "POST", f"/rooms/{rid}/join", host, b'{"sdp": 5}', "sdp"),
            (400, "POST", f"/rooms/{rid}/join", host, b'{"type": "answer", "sdp": "v=0"}', "offer"),
            (400, "POST", f"/rooms/{rid}/messages", user, b'{"text": ""}', "text"),
            (404, "GET", "/rooms/r999999", host, b"", "unknown room"),
            (404, "POST", "/rooms/r999999/join", host, b'{"sdp": "v=0"}', "unknown room"),
            (404, "POST", f"/rooms/{rid}/participants/ghost/mute", host, b"", "unknown user"),
            (404, "POST", f"/rooms/{rid}/participants/u1/dance", host, b"", "unknown action"),
            (404, "GET", "/users/ghost", None, b"", "unknown user"),
            (404, "GET", "/no/such/route", None, b"", "Not Found"),
            (413, "POST", "/rooms", host, b'{"title": "' + b"x" * 70_000 + b'"}', "too large"),
            (400, "GET", "/users?limit=lots", None, b"", "integers"),
        ]
        for status, method, path, token, data, words in cases:
            got, answer = await raw(api, method, path, token, data)
            assert (got, path) == (status, path), answer
            assert words.lower() in answer["error"].lower(), (path, answer)
        assert await api.room(host, rid) == before
        assert len(running.server.rooms) == 1
        # The server is still serving everyone.
        assert (await raw(api, "GET", "/healthz"))[0] == 200

    run(body)


def test_malformed_sdp_bodies_are_refused_without_joining() -> None:
    async def body(running: Running, api: ApiClient) -> None:
        host = await api.token("host")
        rid = (await api.create_room(host, "r")).id
        _pc, good = await real_offer()
        await _pc.close()
        no_opus = "\r\n".join(
            line for line in good.split("\r\n") if "opus" not in line.lower()
        ).replace(" 111 ", " ")
        broken = good.replace("m=audio", "m=audio garbage", 1)
        for sdp in ("v=0\r\n", no_opus, broken, good.replace("a=fingerprint", "a=x")):
            await expect(400, api.join(host, rid, sdp))
        state = await api.room(host, rid)
        assert not state.host_present and running.server.media[rid].peers == {}

    run(body)


def test_actions_on_an_ended_room_are_refused() -> None:
    async def body(running: Running, api: ApiClient) -> None:
        host, user = await api.token("host"), await api.token("u1")
        rid = (await api.create_room(host, "r", TicketTerms(price=1, cap=5))).id
        await expect(403, api.end_room(user, rid))
        await api.end_room(host, rid)
        state = await api.room(host, rid)
        _pc, offer = await real_offer()
        await _pc.close()
        await expect(409, api.join(user, rid, offer))
        await expect(409, api.buy_ticket(user, rid))
        await expect(409, api.act(host, rid, "u1", "invite"))
        await expect(409, api.call("POST", f"/rooms/{rid}/messages", user, {"text": "hi"}))
        await expect(409, api.end_room(host, rid))
        assert await api.room(host, rid) == state
        assert (await api.call("GET", "/rooms", host))["rooms"] == []

    run(body)


def test_concurrent_ticket_purchases_never_exceed_the_cap() -> None:
    async def body(running: Running, api: ApiClient) -> list[int]:
        host = await api.token("host")
        rid = (await api.create_room(host, "paid", TicketTerms(price=9.99, cap=7))).id
        tokens = [await api.token(f"u{i}") for i in range(40)]

        async def buy(token: str) -> int:
            try:
                await api.buy_ticket(token, rid)
                return 201
            except Refused as failure:
                assert failure.reason == "sold out"
                return failure.status

        outcomes = await asyncio.gather(*(buy(t) for t in tokens))
        ticket = (await api.room(host, rid)).ticket
        assert ticket is not None and ticket.sold == 7
        return outcomes

    outcomes = run(body)
    assert outcomes.count(201) == 7 and outcomes.count(409) == 33


def test_a_listener_without_a_ticket_cannot_join_a_ticketed_room() -> None:
    async def body(running: Running, api: ApiClient) -> None:
        host, user = await api.token("host"), await api.token("u1")
        rid = (await api.create_room(host, "paid", TicketTerms(price=1, cap=5))).id
        pc, offer = await real_offer()
        reason = await expect(403, api.join(user, rid, offer))
        assert "ticket" in reason
        assert (await api.room(host, rid)).listener_count == 0
        await api.buy_ticket(user, rid)
        answer = await api.join(user, rid, offer)
        assert answer.type == "answer" and answer.role == "listener"
        assert (await api.room(host, rid)).listener_count == 1
        await pc.close()

    run(body)


def test_only_host_and_cohosts_use_host_powers_and_read_messages() -> None:
    async def body(running: Running, api: ApiClient) -> None:
        host, a, b = await api.token("host"), await api.token("u1"), await api.token("u2")
        rid = (await api.create_room(host, "r")).id
        pcs = await join_peers(api, rid, [host, a, b])
        await api.call("POST", f"/rooms/{rid}/requests", b)
        before = await api.room(host, rid)
        for action in ("invite", "accept", "cohost", "remove", "mute", "listener"):
            await expect(403, api.act(a, rid, "u2", action))
        assert await api.room(host, rid) == before
        await api.call("POST", f"/rooms/{rid}/messages", a, {"text": "can I speak?"})
        await expect(403, api.call("GET", f"/rooms/{rid}/messages", b))
        messages = (await api.call("GET", f"/rooms/{rid}/messages", host))["messages"]
        assert [(m["from"], m["text"]) for m in messages] == [("u1", "can I speak?")]
        state = await api.act(host, rid, "u2", "accept")
        assert state.speakers == ["u2"]
        await api.act(host, rid, "u1", "cohost")
        state = await api.act(a, rid, "u2", "remove")
        assert state.speakers == [] and state.cohosts == ["u1"]
        for pc in pcs:
            await pc.close()

    run(body)


def test_events_stream_role_changes_and_removal() -> None:
    async def body(running: Running, api: ApiClient) -> list[dict[str, Any]]:
        host, user = await api.token("host"), await api.token("u3")
        rid = (await api.create_room(host, "r")).id
        pcs = await join_peers(api, rid, [host, user])
        events: list[dict[str, Any]] = []
        connected = asyncio.Event()

        async def listen() -> None:
            headers = {"Authorization": f"Bearer {user}"}
            async with api.session.get(f"{api.base_url}/rooms/{rid}/events", headers=headers) as r:
                assert r.headers["Content-Type"].startswith("text/event-stream")
                async for line in r.content:
                    if line.startswith(b": connected"):
                        connected.set()
                    if line.startswith(b"data: "):
                        events.append(json.loads(line[6:]))

        task = asyncio.ensure_future(listen())
        await asyncio.wait_for(connected.wait(), 5)
        await api.act(host, rid, "u3", "invite")
        await api.call("POST", f"/rooms/{rid}/invitation/accept", user)
        await api.act(host, rid, "u3", "remove")
        await asyncio.wait_for(task, 5)
        for pc in pcs:
            await pc.close()
        return events

    events = run(body)
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["invited", "role"] and events[1]["role"] == "speaker"
    assert kinds[-2:] == ["removed", "closed"]


def test_openapi_and_metrics_are_served() -> None:
    async def body(running: Running, api: ApiClient) -> tuple[dict[str, Any], str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(running.url + "/openapi.json") as response,
        ):
            document = await response.json()
        await api.create_room(await api.token("host"), "r")
        await asyncio.sleep(0.1)
        return document, await api.metrics_text()

    document, metrics = run(body)
    assert document["openapi"].startswith("3.")
    for route in ROUTES:
        assert route.method.lower() in document["paths"][route.path]
    for name in (
        "spaces_rooms_live 1.0",
        'spaces_participants{role="listener"}',
        "spaces_mixer_tick_seconds_bucket",
        "spaces_mixer_late_ticks_total",
        "spaces_rtp_packets_sent_total",
        "spaces_rtp_packets_received_total",
        "spaces_event_loop_lag_seconds",
    ):
        assert name in metrics

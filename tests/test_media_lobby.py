"""The Spaces page's server side: the page itself, the Spaces bar feed, participants, messages."""

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from media_bench.client.api import ApiClient
from media_bench.client.bots import SpeakerBot
from media_bench.client.marks import Signal
from media_bench.common.contract import TicketTerms
from media_bench.server.harness import Running
from media_bench.server.lobby import Lobby
from media_bench.server.openapi import routes_markdown
from tests.test_media_api import expect, join_peers, run

pytestmark = pytest.mark.timeout(60)


async def next_rooms(feed: AsyncGenerator[dict[str, Any]]) -> list[dict[str, Any]]:
    event = await asyncio.wait_for(anext(feed), 5)
    assert event["type"] == "rooms"
    rooms: list[dict[str, Any]] = event["rooms"]
    return rooms


def test_page_and_its_files_are_served() -> None:
    async def body(running: Running, api: ApiClient) -> dict[str, tuple[int, str, str]]:
        found = {}
        for path in ("/", "/static/spaces.js", "/static/spaces.css", "/static/nope.js"):
            async with api.session.get(running.url + path) as response:
                found[path] = (response.status, response.content_type, await response.text())
        return found

    found = run(body)
    status, kind, html = found["/"]
    assert (status, kind) == (200, "text/html")
    assert 'id="spaces-bar"' in html and "/static/spaces.js" in html
    assert found["/static/spaces.js"][0] == 200
    assert "RTCPeerConnection" in found["/static/spaces.js"][2]
    assert found["/static/spaces.css"][:2] == (200, "text/css")
    assert found["/static/nope.js"][0] == 404


def test_spaces_bar_feed_follows_rooms_speaking_and_endings() -> None:
    async def body(running: Running, api: ApiClient) -> None:
        host, viewer = await api.token("host"), await api.token("u1")
        feed = api.lobby(viewer)
        assert await next_rooms(feed) == []
        room = await api.create_room(host, "Bar", TicketTerms(price=2.5, cap=3))
        (shown,) = await next_rooms(feed)
        assert shown["id"] == room.id and shown["price"] == 2.5 and not shown["speaking"]

        speaker = SpeakerBot(api, host, room.id, Signal(tone_hz=440.0))
        await speaker.join()
        await speaker.wait_audio(10)
        seen = await next_rooms(feed)
        while not seen[0]["speaking"]:
            seen = await next_rooms(feed)
        assert seen[0]["speaker_count"] == 1

        await speaker.close()
        await api.end_room(host, room.id)
        while seen:
            seen = await next_rooms(feed)
        await feed.aclose()

    run(body)


def test_lobby_feed_needs_a_token() -> None:
    async def body(running: Running, api: ApiClient) -> None:
        feed = api.lobby("forged")
        await expect(401, anext(feed))

    run(body)


def test_participants_list_roles_requests_and_invitations() -> None:
    async def body(running: Running, api: ApiClient) -> list[dict[str, Any]]:
        host = await api.token("host")
        rid = (await api.create_room(host, "r")).id
        tokens = {user: await api.token(user) for user in ("host", "u1", "u2", "u3")}
        pcs = await join_peers(api, rid, list(tokens.values()))
        await api.call("POST", f"/rooms/{rid}/requests", tokens["u1"])
        await api.act(host, rid, "u2", "invite")
        await api.act(host, rid, "u3", "invite")
        await api.call("POST", f"/rooms/{rid}/invitation/accept", tokens["u3"])
        listed = await api.call("GET", f"/rooms/{rid}/participants", tokens["u1"])
        for bad in ("0", "x", "10001"):
            reason = await expect(
                400, api.call("GET", f"/rooms/{rid}/participants?limit={bad}", host)
            )
            assert "limit" in reason
        two = await api.call("GET", f"/rooms/{rid}/participants?limit=2", host)
        assert [p["user"] for p in two["participants"]] == ["host", "u3"]
        await expect(404, api.call("GET", "/rooms/nope/participants", host))
        for pc in pcs:
            await pc.close()
        participants: list[dict[str, Any]] = listed["participants"]
        return participants

    listed = {p["user"]: p for p in run(body)}
    assert [listed[u]["role"] for u in ("host", "u3", "u1", "u2")] == [
        "host",
        "speaker",
        "listener",
        "listener",
    ]
    assert listed["u1"]["requested"] and not listed["u1"]["invited"]
    assert listed["u2"]["invited"] and not listed["u2"]["requested"]


def test_messages_reach_the_host_stream_and_no_listener() -> None:
    async def body(running: Running, api: ApiClient) -> tuple[list[str], list[str]]:
        host, writer, other = [await api.token(u) for u in ("host", "u1", "u2")]
        rid = (await api.create_room(host, "r")).id
        pcs = await join_peers(api, rid, [host, writer, other])
        seen: dict[str, list[str]] = {"host": [], "other": []}

        async def watch(name: str, token: str) -> None:
            async for event in api.events(token, rid):
                if event["type"] == "message":
                    seen[name].append(event["text"])

        watchers = [
            asyncio.ensure_future(watch("host", host)),
            asyncio.ensure_future(watch("other", other)),
        ]
        await asyncio.sleep(0.3)
        await api.call("POST", f"/rooms/{rid}/messages", writer, {"text": "hello host"})
        await asyncio.sleep(0.5)
        await api.end_room(host, rid)
        await asyncio.wait_for(asyncio.gather(*watchers), 5)
        for pc in pcs:
            await pc.close()
        return seen["host"], seen["other"]

    to_host, to_other = run(body)
    assert to_host == ["hello host"]
    assert to_other == []


def test_readme_route_table_is_the_served_one() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert routes_markdown() in readme


def test_lobby_builds_nothing_unwatched_and_a_new_watcher_starts_current() -> None:
    rooms: list[dict[str, Any]] = [{"id": "r1"}]
    built: list[int] = []

    def summaries() -> list[dict[str, Any]]:
        built.append(1)
        return [dict(r) for r in rooms]

    async def body() -> tuple[list[Any], list[Any]]:
        lobby = Lobby(summaries)
        lobby.changed()
        lobby.flush()
        assert built == []  # nobody watching
        first = lobby.watch()
        rooms.append({"id": "r2"})
        lobby.changed()
        second = lobby.watch()  # first gets the pending change before second starts
        lobby.flush()
        drained: list[list[Any]] = [[], []]
        for queue, out in ((first, drained[0]), (second, drained[1])):
            while not queue.empty():
                out.append([r["id"] for r in (await queue.get())["rooms"]])
        return drained[0], drained[1]

    first, second = asyncio.run(body())
    assert first == [["r1"], ["r1", "r2"]]
    assert second == [["r1", "r2"]]

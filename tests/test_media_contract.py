"""The HTTP contract declared once: router, OpenAPI document, validation, auth, events."""

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from pydantic import ValidationError

from media_bench.client.api import ApiClient
from media_bench.client.sse import sse_data
from media_bench.common.contract import ROUTES, LobbyEvent, RoomCreate, RoomEvent, TicketTerms
from media_bench.server.app import SpacesServer
from media_bench.server.broadcast import CLOSED, Broadcaster
from media_bench.server.harness import Running
from media_bench.server.openapi import openapi_document, routed_operations, undocumented
from media_bench.server.refusals import validation_reason
from media_bench.server.routes.streams import stream_events
from media_bench.server.settings import Settings
from tests.test_media_api import USERS, join_peers, run

pytestmark = pytest.mark.timeout(60)


async def served_document(running: Running) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(running.url + "/openapi.json") as response,
    ):
        document: dict[str, Any] = await response.json()
    return document


def test_served_openapi_document_matches_the_router_route_by_route() -> None:
    async def body(running: Running, api: ApiClient) -> dict[str, Any]:
        return await served_document(running)

    document = run(body)
    routed = routed_operations(SpacesServer(Settings(), USERS).app())
    assert len(routed) == len(ROUTES)
    assert undocumented(routed, document) == (set(), set())


def test_the_route_comparison_flags_extra_and_missing_routes() -> None:
    app = SpacesServer(Settings(), USERS).app()

    async def extra(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_post("/rooms/{room_id}/dance", extra)
    document = openapi_document()
    del document["paths"]["/healthz"]["get"]
    not_documented, not_routed = undocumented(routed_operations(app), document)
    assert not_documented == {("POST", "/rooms/{room_id}/dance"), ("GET", "/healthz")}
    assert not_routed == set()
    document["paths"]["/ghost"] = {"get": {}}
    assert undocumented(routed_operations(app), document)[1] == {("GET", "/ghost")}


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    validate(openapi_document())
    broken = openapi_document()
    broken["paths"]["/rooms"]["post"]["responses"] = "none"
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_openapi_renders_the_follower_threshold_from_the_settings() -> None:
    text = json.dumps(openapi_document(Settings(host_threshold=1234)))
    assert "1234" in text
    assert "default 600" not in text
    assert "600" not in json.dumps(openapi_document(Settings(host_threshold=1234))["info"])


def test_openapi_schemas_come_from_the_models() -> None:
    document = openapi_document()
    create = document["paths"]["/rooms"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RoomCreate"
    }
    schemas = document["components"]["schemas"]
    assert schemas["TicketTerms"]["properties"]["cap"]["minimum"] == 1
    assert "from" in schemas["Message"]["properties"]  # the wire name, not the attribute
    assert {p["name"] for p in document["paths"]["/users"]["get"]["parameters"]} == {
        "min_followers",
        "can_host",
        "limit",
    }
    operation_ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert sorted(operation_ids) == sorted(r.operation for r in ROUTES)


def test_a_validation_refusal_names_the_bad_field() -> None:
    with pytest.raises(ValidationError) as info:
        RoomCreate.model_validate({"ticket": {"price": True, "cap": 2}})
    assert validation_reason(info.value) == "field 'ticket.price': must be a number"
    with pytest.raises(ValidationError) as info:
        RoomCreate.model_validate({"title": "x" * 201})
    assert validation_reason(info.value).startswith("field 'title': ")


@pytest.mark.parametrize("route", [r for r in ROUTES if r.auth], ids=lambda r: r.operation)
def test_every_route_declared_as_needing_auth_refuses_without_a_token(route: Any) -> None:
    async def body(running: Running, api: ApiClient) -> tuple[int, str]:
        path = route.url(**{name: "x" for name in route.path_parameters})
        async with api.session.request(route.method, running.url + path) as response:
            return response.status, (await response.json())["error"]

    assert run(body) == (401, "missing bearer token")


def test_head_requests_need_the_same_token_as_get() -> None:
    async def body(running: Running, api: ApiClient) -> list[int]:
        statuses = []
        for path in ("/rooms", "/healthz"):
            async with api.session.head(running.url + path) as response:
                statuses.append(response.status)
        return statuses

    assert run(body) == [401, 200]


def test_routes_open_to_anyone_need_no_token() -> None:
    async def body(running: Running, api: ApiClient) -> list[int]:
        statuses = []
        for route in ROUTES:
            if not route.auth and route.method == "GET" and not route.path_parameters:
                async with api.session.get(running.url + route.path) as response:
                    statuses.append(response.status)
        return statuses

    statuses = run(body)
    assert statuses and set(statuses) == {200}


def test_typed_client_calls_parse_replies_into_the_models() -> None:
    async def body(running: Running, api: ApiClient) -> None:
        host, guest = await api.token("host"), await api.token("u1")
        assert (await api.user("host")).can_host and not (await api.user("small")).can_host
        assert [u.id for u in (await api.users(min_followers=1000)).users] == ["host"]
        hosts = (await api.users(can_host=True)).users
        assert hosts and all(u.can_host for u in hosts) and "small" not in {u.id for u in hosts}
        assert "host" not in {u.id for u in (await api.users(can_host=False)).users}
        room = await api.create_room(host, "typed", TicketTerms(price=1.5, cap=2))
        assert room.ticket is not None and (room.ticket.price, room.ticket.sold) == (1.5, 0)
        sold = await api.buy_ticket(guest, room.id)
        assert (sold.user, sold.sold, sold.cap) == ("u1", 1, 2)
        pcs = await join_peers(api, room.id, [host, guest])
        await api.request_to_speak(guest, room.id)
        listed = await api.participants(host, room.id)
        assert [(p.user, p.role, p.requested) for p in listed.participants] == [
            ("host", "host", False),
            ("u1", "listener", True),
        ]
        message = await api.send_message(guest, room.id, "hello")
        assert (message.sender, message.text) == ("u1", "hello")
        assert (await api.messages(host, room.id)).messages == [message]
        assert [r.id for r in (await api.rooms(guest)).rooms] == [room.id]
        assert (await api.leave(guest, room.id)).listener_count == 0
        assert not (await api.end_room(host, room.id)).live
        assert (await api.healthz()).rooms == 1
        feed = api.lobby(guest)
        assert LobbyEvent.model_validate(await anext(feed)) == LobbyEvent(type="rooms", rooms=[])
        await feed.aclose()
        for pc in pcs:
            await pc.close()

    run(body)


def test_room_events_have_the_declared_shape() -> None:
    async def body(running: Running, api: ApiClient) -> list[RoomEvent]:
        host, guest = await api.token("host"), await api.token("u1")
        room = await api.create_room(host, "events")
        pcs = await join_peers(api, room.id, [host, guest])
        events: list[RoomEvent] = []

        async def watch() -> None:
            async for event in api.events(host, room.id):
                events.append(RoomEvent.model_validate(event))

        watcher = asyncio.ensure_future(watch())
        await asyncio.sleep(0.3)
        await api.send_message(guest, room.id, "hi")
        await api.act(host, room.id, "u1", "invite")
        await api.end_room(host, room.id)
        await asyncio.wait_for(watcher, 5)
        for pc in pcs:
            await pc.close()
        return events

    kinds = [event.type for event in run(body) if event.type != "levels"]
    assert kinds == ["message", "invited", "ended", "closed"]


def test_a_slow_subscriber_loses_its_oldest_events_but_always_hears_closed() -> None:
    async def body() -> tuple[list[Any], list[Any]]:
        broadcaster = Broadcaster(capacity=3)
        _, slow = broadcaster.subscribe("a")
        _, picky = broadcaster.subscribe("b")
        for n in range(5):
            broadcaster.publish({"n": n}, only=None if n == 0 else "a".__eq__)
        broadcaster.close()
        assert len(broadcaster) == 0
        drained: list[list[Any]] = [[], []]
        for queue, out in ((slow, drained[0]), (picky, drained[1])):
            while not queue.empty():
                out.append(await queue.get())
        return drained[0], drained[1]

    slow, picky = asyncio.run(body())
    assert slow == [{"n": 3}, {"n": 4}, CLOSED]
    assert picky == [{"n": 0}, CLOSED]


def test_closing_one_owner_ends_only_its_subscriptions() -> None:
    async def body() -> None:
        broadcaster = Broadcaster(capacity=2)
        _, mine = broadcaster.subscribe("a")
        _, theirs = broadcaster.subscribe("b")
        broadcaster.close("a")
        broadcaster.publish({"n": 1})
        assert mine.get_nowait() == CLOSED and mine.empty()
        assert theirs.get_nowait() == {"n": 1}
        assert len(broadcaster) == 1

    asyncio.run(body())


def test_an_event_stream_passes_cancellation_on() -> None:
    async def body() -> bool:
        request = make_mocked_request("GET", "/events")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        task = asyncio.ensure_future(stream_events(request, queue))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return task.cancelled()

    assert asyncio.run(body())


def test_the_sse_parser_joins_data_lines_and_skips_comments() -> None:
    async def lines() -> Any:
        for line in (
            b": connected\n",
            b"\n",
            b'data: {"a":\r\n',
            b"data: 1}\r\n",
            b"\r\n",
            b"event: x\n",
            b"data:2\n",
            b"\n",
            b"data: cut off\n",
        ):
            yield line

    async def body() -> list[str]:
        return [data async for data in sse_data(lines())]

    assert asyncio.run(body()) == ['{"a":\n1}', "2"]

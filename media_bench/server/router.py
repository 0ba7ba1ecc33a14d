"""The aiohttp router, built from the contract's routes: path room, query and body are
resolved and validated before a handler runs, in that order (so 404 before 400)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from media_bench.common.contract import ROUTES, Route
from media_bench.server.context import BODY, QUERY, ROOM
from media_bench.server.live import LiveRoom
from media_bench.server.refusals import Handler, parse_body, parse_model

Elsewhere = Callable[[web.Request, LiveRoom], Awaitable[web.StreamResponse | None]]
"""Answers a request about a room another node serves (by forwarding it), or None."""


async def _served_here(request: web.Request, live: LiveRoom) -> None:
    return None


def add_routes(
    router: web.UrlDispatcher,
    handlers: Mapping[str, Handler],
    find_room: Callable[[str], Awaitable[LiveRoom]],
    elsewhere: Elsewhere = _served_here,
) -> None:
    """Route every operation of the contract to its handler (by operation id)."""
    missing = {route.operation for route in ROUTES} - set(handlers)
    if missing:
        raise ValueError(f"operations without a handler: {sorted(missing)}")
    for route in ROUTES:
        handle = _validated(route, handlers[route.operation], find_room, elsewhere)
        router.add_route(route.method, route.path, handle)
        if route.method == "GET":  # as aiohttp's add_get does
            router.add_route("HEAD", route.path, handle)


def _validated(
    route: Route,
    handler: Handler,
    find_room: Callable[[str], Awaitable[LiveRoom]],
    elsewhere: Elsewhere,
) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if "room_id" in route.path_parameters:
            live = request[ROOM] = await find_room(request.match_info["room_id"])
            answered = await elsewhere(request, live)
            if answered is not None:
                return answered
        if route.query is not None:
            # the first value of a repeated parameter counts
            first = {name: request.query[name] for name in request.query}
            request[QUERY] = parse_model(route.query, first)
        if route.body is not None:
            request[BODY] = parse_body(route.body, await request.read(), route.body_required)
        return await handler(request)

    return handle

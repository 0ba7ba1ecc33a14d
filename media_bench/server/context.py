"""Typed access to what the middleware and the router put on a request."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from media_bench.common.contract import Reply, json_of
from media_bench.server.live import LiveRoom

M = TypeVar("M", bound=BaseModel)

CALLER = web.RequestKey("caller", str)
ROOM = web.RequestKey("room", LiveRoom)
BODY = web.RequestKey("body", BaseModel)
QUERY = web.RequestKey("query", BaseModel)


def caller_of(request: web.Request) -> str:
    """The user the bearer token names (set by the auth middleware on routes that need it)."""
    return request[CALLER]


def room_of(request: web.Request) -> LiveRoom:
    """The room named by the path's ``room_id`` (a 404 was answered if there is none)."""
    return request[ROOM]


def body_of(request: web.Request, model: type[M]) -> M:
    return _parsed(request[BODY], model)


def query_of(request: web.Request, model: type[M]) -> M:
    return _parsed(request[QUERY], model)


def _parsed(value: Any, model: type[M]) -> M:
    if not isinstance(value, model):
        raise TypeError(f"the route declares {type(value).__name__}, not {model.__name__}")
    return value


def reply(answer: Reply, status: int = 200) -> web.Response:
    return web.json_response(json_of(answer), status=status)

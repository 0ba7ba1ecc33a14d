"""The API's route table and the OpenAPI 3.1 document built from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from media_bench.server.rooms import ACTIONS


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    who: str
    summary: str
    body: dict[str, Any] | None = None
    auth: bool = True
    ok: int = 200


_OFFER = {
    "type": "object",
    "required": ["sdp"],
    "properties": {"type": {"const": "offer"}, "sdp": {"type": "string"}},
}
_ROOM = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 200},
        "ticket": {
            "type": ["object", "null"],
            "required": ["price", "cap"],
            "properties": {
                "price": {"type": "number", "minimum": 0},
                "cap": {"type": "integer", "minimum": 1},
            },
        },
    },
}
_TEXT = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 1000}},
}

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/",
        "anyone",
        "The Spaces page: the Spaces bar of live rooms, joining, speaking and host controls "
        "in a browser (static files under `/static/`).",
        auth=False,
    ),
    Route(
        "GET",
        "/events",
        "any token holder",
        "Server-sent events for the Spaces bar: a `rooms` snapshot (id, title, host, "
        "speaker and listener counts, speaking, ticket price) now and whenever it changes.",
    ),
    Route("GET", "/healthz", "anyone", "Liveness probe.", auth=False),
    Route("GET", "/openapi.json", "anyone", "This OpenAPI document.", auth=False),
    Route(
        "GET",
        "/metrics",
        "anyone",
        "Prometheus metrics: rooms, participants by role, mixer tick duration, late ticks, "
        "packets sent/received, event-loop lag.",
        auth=False,
    ),
    Route(
        "POST",
        "/auth/token",
        "anyone",
        "Issue an HMAC-signed bearer token for a user of the directory (a test harness: "
        "no passwords).",
        {"type": "object", "required": ["user"], "properties": {"user": {"type": "string"}}},
        auth=False,
    ),
    Route(
        "GET",
        "/users",
        "anyone",
        "List users (query: min_followers, limit) with follower counts and can_host.",
        auth=False,
    ),
    Route("GET", "/users/{user_id}", "anyone", "One user's followers and can_host.", auth=False),
    Route("GET", "/rooms", "any token holder", "List live rooms with their state."),
    Route(
        "POST",
        "/rooms",
        "users at or above the follower threshold (default 600); others get 403",
        "Create a room, optionally ticketed (price, cap); the caller is its host.",
        _ROOM,
        ok=201,
    ),
    Route(
        "GET",
        "/rooms/{room_id}",
        "any token holder",
        "Room state: host, co-hosts, speakers, muted, listener count, who is speaking, tickets.",
    ),
    Route(
        "GET",
        "/rooms/{room_id}/participants",
        "any token holder",
        "Members, speakers first (query: limit), with role, muted, requested and invited.",
    ),
    Route("POST", "/rooms/{room_id}/end", "host", "End the room; every peer is disconnected."),
    Route(
        "POST",
        "/rooms/{room_id}/tickets",
        "any token holder",
        "Buy a ticket; 409 when sold out (never oversells) or already held.",
        ok=201,
    ),
    Route(
        "POST",
        "/rooms/{room_id}/join",
        "host; anyone not removed (ticket holders only in ticketed rooms)",
        "Join with an SDP offer; returns the answer and the role. Listeners hear the room "
        "mix; speakers publish and hear everyone but themselves.",
        _OFFER,
    ),
    Route("POST", "/rooms/{room_id}/leave", "participant", "Leave the room."),
    Route("POST", "/rooms/{room_id}/requests", "listener", "Ask the host to speak."),
    Route(
        "POST",
        "/rooms/{room_id}/invitation/accept",
        "invited listener",
        "Accept an invitation to speak (at most 13 speakers including the host).",
    ),
    Route(
        "POST",
        "/rooms/{room_id}/participants/{user_id}/{action}",
        "host and co-hosts; a speaker may also mute or step down itself, and only it unmutes",
        "Host powers, action one of: invite (to speak), accept (a request to speak), "
        "listener (move back), mute, unmute, cohost (max 2), remove (cannot rejoin).",
    ),
    Route(
        "POST",
        "/rooms/{room_id}/messages",
        "participant",
        "Send the host a message.",
        _TEXT,
        ok=201,
    ),
    Route("GET", "/rooms/{room_id}/messages", "host and co-hosts", "Read messages."),
    Route(
        "GET",
        "/rooms/{room_id}/events",
        "participant",
        "Server-sent events: joined, left, role, muted, unmuted, invited, request, removed, "
        "ended, levels (audio levels and who is speaking, every 200 ms), and message (to "
        "the host and co-hosts only).",
    ),
)


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 description of every route."""
    paths: dict[str, dict[str, Any]] = {}
    error = {
        "description": "Refused",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                }
            }
        },
    }
    for route in ROUTES:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "description": f"Who may call: {route.who}.",
            "responses": {
                str(route.ok): {"description": "OK"},
                "4XX": error,
            },
        }
        if route.auth:
            operation["security"] = [{"bearer": []}]
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": route.body}},
            }
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in ("room_id", "user_id", "action")
            if "{" + name + "}" in route.path
        ]
        for parameter in parameters:
            if parameter["name"] == "action":
                parameter["schema"] = {"type": "string", "enum": list(ACTIONS)}
        if parameters:
            operation["parameters"] = parameters
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Spaces Lab media server", "version": "0.1.0"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }


def routes_markdown() -> str:
    """The route table as Markdown, for the README."""
    lines = ["| Method | Path | Who may call | What it does |", "|---|---|---|---|"]
    for route in ROUTES:
        lines.append(f"| {route.method} | `{route.path}` | {route.who} | {route.summary} |")
    return "\n".join(lines)

"""The control link between an API process and a media worker: what crosses it, once.

One WebSocket per (API process, worker) pair carries JSON text messages:

- a call ``{"id": n, "method": name, "args": {...}}`` (``name`` one of ``METHODS``, the
  ``MediaCarrier`` methods, ``args`` their keyword arguments);
- its reply ``{"id": n, "result": value}`` or ``{"id": n, "error": {"status": s, "reason": r}}``
  (a ``Refused`` keeps its status; anything else the worker did not mean travels as 500);
- a notice from the worker ``{"notice": "levels" | "drop", "room": id, ...}``: a room's audio
  levels every 200 ms and each participant the worker dropped, sent on the link that opened
  the room (the room's API process, which owns the room's rules).

Media never crosses this link: it goes peer to worker over WebRTC and origin to edge over the
relay (UDP).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from media_bench.server.peers import DropReason
from spaces_core.errors import Refused

CONTROL_PATH = "/control"
"""The worker's WebSocket route."""
METRICS_PATH = "/metrics"
"""The worker's Prometheus route (its own process: ticks, packets, relay, CPU)."""


class MediaCarrier(Protocol):
    """What the API process asks of the media of its rooms, wherever a worker carries it: a
    ``media_host.MediaHost`` in-process or a ``worker_client.RemoteMediaHost`` over the link."""

    async def open_origin(self, room_id: str) -> None: ...
    async def open_edge(self, room_id: str, origin: Sequence[Any]) -> None: ...
    async def add_edge(self, room_id: str, edge: Sequence[Any]) -> None: ...
    async def remove_edge(self, room_id: str, edge: Sequence[Any]) -> None: ...
    async def connect(self, room_id: str, user_id: str, offer_sdp: str) -> str: ...
    async def commit(self, room_id: str, user_id: str) -> None: ...
    async def discard(self, room_id: str, user_id: str) -> None: ...
    async def sync(
        self,
        room_id: str,
        members: list[str],
        speakers: list[str],
        mixed: list[str],
        remote: dict[str, Sequence[Any]],
    ) -> None: ...
    async def disconnect(self, room_id: str, user_id: str) -> None: ...
    async def close_room(self, room_id: str) -> None: ...


METHODS: tuple[str, ...] = (
    "open_origin",
    "open_edge",
    "add_edge",
    "remove_edge",
    "connect",
    "commit",
    "discard",
    "sync",
    "disconnect",
    "close_room",
)
"""The calls a link carries: ``MediaCarrier``'s methods, and nothing else of the worker."""
ROOM_OPENERS = ("open_origin", "open_edge")
"""Calls that make the calling link the room's: its notices go there."""


class WorkerFailed(Refused):
    """A worker failed a call for a reason it did not mean (or its link is gone): a 503."""

    def __init__(self, reason: str) -> None:
        super().__init__(503, f"media worker: {reason}")


def call_message(call_id: int, method: str, args: dict[str, Any]) -> str:
    return json.dumps({"id": call_id, "method": method, "args": args})


def result_message(call_id: int, result: Any) -> str:
    return json.dumps({"id": call_id, "result": result})


def error_message(call_id: int, status: int, reason: str) -> str:
    return json.dumps({"id": call_id, "error": {"status": status, "reason": reason}})


def levels_notice(room_id: str, levels: dict[str, float]) -> str:
    return json.dumps({"notice": "levels", "room": room_id, "levels": levels})


def drop_notice(room_id: str, user_id: str, reason: DropReason) -> str:
    return json.dumps({"notice": "drop", "room": room_id, "user": user_id, "reason": reason})


def refusal_of(error: dict[str, Any]) -> Refused:
    """The exception a caller raises for a reply's ``error``."""
    status, reason = int(error["status"]), str(error["reason"])
    return Refused(status, reason) if 400 <= status < 500 else WorkerFailed(reason)

"""The Spaces bar's feed: live rooms, re-sent to every watcher whenever what it shows changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from media_bench.server.broadcast import Broadcaster, Event

LOBBY_INTERVAL = 0.2
"""Seconds between checks; the speaking flag comes from the mixer's 200 ms level events."""
LOBBY_QUEUE = 4


class Lobby:
    """Snapshots of the live rooms' summaries, sent only when they differ from the last one."""

    def __init__(
        self, summaries: Callable[[], list[dict[str, Any]]], interval: float = LOBBY_INTERVAL
    ) -> None:
        self._summaries = summaries
        self.interval = interval
        self._watchers = Broadcaster(LOBBY_QUEUE)
        self._keys: dict[asyncio.Queue[Event], int] = {}
        self._dirty = True
        self._last: list[dict[str, Any]] | None = None

    def snapshot(self) -> dict[str, Any]:
        return {"type": "rooms", "rooms": self._summaries()}

    def watch(self) -> asyncio.Queue[Event]:
        """A queue that starts with the current snapshot and gets every change after it."""
        self.flush()  # watchers already here get any pending change first
        snapshot = self.snapshot()
        self._last, self._dirty = snapshot["rooms"], False
        key, queue = self._watchers.subscribe()
        queue.put_nowait(snapshot)
        self._keys[queue] = key
        return queue

    def unwatch(self, queue: asyncio.Queue[Event]) -> None:
        key = self._keys.pop(queue, None)
        if key is not None:
            self._watchers.unsubscribe(key)

    def close(self) -> None:
        """End every watcher's stream (server shutdown)."""
        self._watchers.close()
        self._keys.clear()

    def changed(self) -> None:
        self._dirty = True

    def flush(self) -> None:
        """Send the snapshot to every watcher if it differs from the last one sent."""
        if not self._dirty or not len(self._watchers):  # nobody watching: build nothing
            return
        self._dirty = False
        snapshot = self.snapshot()
        if snapshot["rooms"] == self._last:
            return
        self._last = snapshot["rooms"]
        self._watchers.publish(snapshot)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.flush()

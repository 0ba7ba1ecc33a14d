"""The Spaces bar's feed: live rooms, re-sent to every watcher whenever what it shows changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

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
        self._watchers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._dirty = True
        self._last: list[dict[str, Any]] | None = None

    def snapshot(self) -> dict[str, Any]:
        return {"type": "rooms", "rooms": self._summaries()}

    def watch(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue that starts with the current snapshot and gets every change after it."""
        self.flush()  # watchers already here get any pending change first
        snapshot = self.snapshot()
        self._last, self._dirty = snapshot["rooms"], False
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(LOBBY_QUEUE)
        queue.put_nowait(snapshot)
        self._watchers.add(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._watchers.discard(queue)

    def close(self) -> None:
        """End every watcher's stream (server shutdown)."""
        for queue in self._watchers:
            self._offer(queue, {"type": "closed"})
        self._watchers.clear()

    def changed(self) -> None:
        self._dirty = True

    def flush(self) -> None:
        """Send the snapshot to every watcher if it differs from the last one sent."""
        if not self._dirty or not self._watchers:  # nobody watching: build nothing
            return
        self._dirty = False
        snapshot = self.snapshot()
        if snapshot["rooms"] == self._last:
            return
        self._last = snapshot["rooms"]
        for queue in self._watchers:
            self._offer(queue, snapshot)

    @staticmethod
    def _offer(queue: asyncio.Queue[dict[str, Any]], event: dict[str, Any]) -> None:
        if queue.full():  # a slow watcher only needs the newest snapshot
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
        queue.put_nowait(event)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.flush()

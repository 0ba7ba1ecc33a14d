"""One way to send events to many subscribers, each through its own bounded queue.

Overflow rule: a subscriber that falls behind loses its *oldest* queued events, never the
newest, and never the final ``closed`` event. Both users of it need that: the lobby's
snapshots supersede one another, so only the newest matters; a room's newest events
(levels, roles) describe its current state best; and every stream must learn that it ended,
or a slow subscriber's stream would hang open after its room is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
CLOSED: Event = {"type": "closed"}


class Broadcaster:
    """Subscribers by key, each owned by a user id (or ``""``) and fed through its queue."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._subscribers: dict[int, tuple[str, asyncio.Queue[Event]]] = {}
        self._keys = itertools.count()
        self.on_drop: Callable[[], None] | None = None
        """Called for every event a full queue loses."""

    def __len__(self) -> int:
        return len(self._subscribers)

    def subscribe(self, owner: str = "") -> tuple[int, asyncio.Queue[Event]]:
        key = next(self._keys)
        queue: asyncio.Queue[Event] = asyncio.Queue(self.capacity)
        self._subscribers[key] = (owner, queue)
        return key, queue

    def unsubscribe(self, key: int) -> None:
        self._subscribers.pop(key, None)

    def publish(self, event: Event, only: Callable[[str], bool] | None = None) -> None:
        """Queue ``event`` for every subscriber, or for those whose owner ``only`` picks."""
        for owner, queue in self._subscribers.values():
            if only is not None and not only(owner):
                continue
            delivered_all = offer(queue, event)
            if not delivered_all and self.on_drop is not None:
                self.on_drop()

    def close(self, owner: str | None = None) -> None:
        """Send ``closed`` to the subscribers of ``owner`` (all when None) and forget them."""
        for key, (subscriber, queue) in list(self._subscribers.items()):
            if owner is None or subscriber == owner:
                offer(queue, CLOSED)
                del self._subscribers[key]


def offer(queue: asyncio.Queue[Event], event: Event) -> bool:
    """Put ``event`` on ``queue``, dropping the oldest queued event when it is full; False
    when one was dropped."""
    full = queue.full()
    if full:
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(event)
    return not full

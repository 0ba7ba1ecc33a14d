"""Real OS threads for aiortc's decoder in a gevent-patched process.

aiortc's receiver decodes in a ``threading.Thread`` fed by a ``queue.Queue``. Under Locust's
monkey-patching both become greenlet primitives, and called from the bridge's asyncio thread
they run late or never (measured: mouth-to-ear latency tripled). These stand-ins are built on
the original ``_thread`` primitives; :func:`install` points aiortc's receiver module at them.
"""

from __future__ import annotations

import contextlib
import types
from collections import deque
from collections.abc import Callable
from typing import Any

import gevent.monkey

_start_new_thread = gevent.monkey.get_original("_thread", "start_new_thread")
_allocate_lock = gevent.monkey.get_original("_thread", "allocate_lock")


class Thread:
    """Enough of ``threading.Thread`` for aiortc: start and join."""

    def __init__(self, target: Callable[..., Any], name: str = "",
                 args: tuple[Any, ...] = ()) -> None:
        self.name = name
        self._target = target
        self._args = args
        self._done = _allocate_lock()

    def start(self) -> None:
        self._done.acquire()
        _start_new_thread(self._run, ())

    def _run(self) -> None:
        try:
            self._target(*self._args)
        finally:
            self._done.release()

    def join(self, timeout: float | None = None) -> None:
        if self._done.acquire(True, -1 if timeout is None else timeout):
            self._done.release()


class Event:
    """A flag set by one thread and read by another (no waiting needed by aiortc)."""

    def __init__(self) -> None:
        self._flag = False

    def set(self) -> None:
        self._flag = True

    def clear(self) -> None:
        self._flag = False

    def is_set(self) -> bool:
        return self._flag


class Queue:
    """Unbounded FIFO whose ``get`` blocks the calling OS thread until an item arrives."""

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._ready = _allocate_lock()
        self._ready.acquire()

    def put(self, item: Any) -> None:
        self._items.append(item)
        with contextlib.suppress(RuntimeError):  # already signalled
            self._ready.release()

    def get(self) -> Any:
        while True:
            try:
                return self._items.popleft()
            except IndexError:
                self._ready.acquire()


def install() -> None:
    """Make aiortc's receivers decode in real threads (call once, before any peer exists)."""
    import aiortc.rtcrtpreceiver as receiver

    setattr(receiver, "threading", types.SimpleNamespace(Thread=Thread, Event=Event))  # noqa: B010
    setattr(receiver, "queue", types.SimpleNamespace(Queue=Queue))  # noqa: B010

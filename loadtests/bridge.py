"""One asyncio loop per process, in a real OS thread, for gevent greenlets to submit to.

Locust runs on gevent and monkey-patches ``threading``; aiortc needs asyncio. The loop is started
lazily on first use (so after any fork by ``--processes``), in a thread made with gevent's
*original* ``threading.Thread``. A greenlet submits a coroutine with
``asyncio.run_coroutine_threadsafe`` and waits on a gevent ``Event`` that the loop thread sets
through ``loop.run_callback_threadsafe``: the greenlet yields to the other greenlets meanwhile,
and nothing polls. Locust events must be fired by the greenlet after the wait, never from
asyncio callbacks.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import gevent
import gevent.event
import gevent.monkey

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_owner_pid: int | None = None


def _start() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    ready = gevent.monkey.get_original("threading", "Event")()
    real_thread = gevent.monkey.get_original("threading", "Thread")

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    real_thread(target=serve, name="asyncio-bridge", daemon=True).start()
    ready.wait()
    return loop


def loop() -> asyncio.AbstractEventLoop:
    """This process's bridge loop, started on first use (and again after a fork)."""
    global _loop, _owner_pid
    with _lock:
        if _loop is None or _owner_pid != os.getpid():
            _loop = _start()
            _owner_pid = os.getpid()
        return _loop


def started() -> bool:
    """Whether this process has started its bridge loop."""
    return _loop is not None and _owner_pid == os.getpid()


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Schedule a coroutine on the bridge loop; returns a thread-safe future."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def wait(future: Future[T], timeout: float | None = None) -> T:
    """Wait for a bridge future without blocking other greenlets; raises what it raised.

    On timeout the coroutine is cancelled and ``TimeoutError`` is raised.
    """
    done = gevent.event.Event()
    hub_loop = gevent.get_hub().loop
    future.add_done_callback(lambda _: hub_loop.run_callback_threadsafe(done.set))
    if not done.wait(timeout):
        future.cancel()
        raise TimeoutError(f"bridge call did not finish within {timeout} s")
    return future.result()


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the bridge loop from a greenlet and return its result."""
    return wait(submit(coro), timeout)

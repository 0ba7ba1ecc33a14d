"""One asyncio loop per process, in a real OS thread, for gevent greenlets to submit to.

Locust runs on gevent and monkey-patches ``threading``; aiortc needs asyncio. The loop is started
lazily on first use (so after any fork by ``--processes``), in a real OS thread (gevent's
*original* ``_thread.start_new_thread``: the original ``threading.Thread`` class would still
start a greenlet) with the real ``selectors`` epoll (gevent's selector would poll through a hub
in that thread at about twice the CPU per listener). A greenlet submits a coroutine with
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
    from loadtests import real_threads

    real_threads.install()
    # gevent patched `selectors`: asyncio's default selector would run every poll through a
    # gevent hub in this thread (measured: about twice the CPU per listener). Use the real one.
    selector_class = gevent.monkey.get_original("selectors", "DefaultSelector")
    loop = asyncio.SelectorEventLoop(selector_class())
    # a real OS lock (gevent's are greenlet-aware), held until the loop runs
    started = gevent.monkey.get_original("_thread", "allocate_lock")()
    started.acquire()
    # The original threading.Thread class still starts threads through the patched
    # _thread module (as greenlets); the original start_new_thread makes a real OS thread.
    start_thread = gevent.monkey.get_original("_thread", "start_new_thread")

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(started.release)
        loop.run_forever()

    start_thread(serve, ())
    started.acquire()  # blocks this thread only briefly, at first use
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

"""The counting listeners' native receive path (``media_bench/native/fastcount.c``).

The counting sockets of one loop go into one native ``Reader``: every ``DRAIN_EVERY`` (more
often while a stream is starting) it reads every ready socket, a batch of datagrams per system
call, and counts each RTP header into the socket's native ``Counter`` in C, at the kernel's
arrival stamp, so a counted packet costs no Python call. What is not RTP (STUN consent, DTLS)
and socket errors come back here and go where the Python path sends them.
``pip install`` compiles it where a C compiler and Python's headers are present; elsewhere,
or with ``SPACES_LAB_FAST_COUNT=0``, counting listeners keep the Python path
(``StreamCounter`` fed from the loop's Python poller), which stays tested.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from media_bench.client.stream_counter import NATIVE_SETTINGS

if TYPE_CHECKING:
    from media_bench.client import _fastcount

FAST_COUNT_VARIABLE = "SPACES_LAB_FAST_COUNT"
SETUP_DRAIN_EVERY = 0.010
"""Seconds between reads of the counting sockets while a stream has not started: its ICE and
DTLS handshakes wait at most that long per round trip (join times include them)."""
DRAIN_EVERY = 0.040
"""Seconds between reads once every stream has started: two frames, so a drain finds about two
packets per socket and takes them in one system call (each packet is counted at its kernel
arrival stamp, not at the drain, so the figures do not move)."""

Deliver = Callable[[bytes, Any], None]
Failed = Callable[[Exception], None]


def native_module() -> ModuleType | None:
    """The compiled module, or None (not built here, or turned off)."""
    if os.environ.get(FAST_COUNT_VARIABLE, "") == "0":
        return None
    try:
        from media_bench.client import _fastcount
    except ImportError:
        return None
    return _fastcount


class NativeReader:
    """The native reader of one loop's counting sockets, drained every ``DRAIN_EVERY`` (every
    ``SETUP_DRAIN_EVERY`` while one of them has not had its stream's first packet).

    Not on the sockets' readiness: a room's packets reach its listeners spread over the
    server's tick, so the loop would wake for every one or two of them, and a wake-up costs
    more Python than the counting. Packets wait in their sockets meanwhile, each stamped by
    the kernel on arrival (``fastcount.c``), which is the instant counted.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, module: ModuleType) -> None:
        self._loop = loop
        self._module = module
        self._reader: _fastcount.Reader = module.Reader()
        self._routes: dict[int, tuple[Deliver, Failed, Callable[[], None]]] = {}
        # sockets whose stream has not started, by the on_first they share with their peer's
        self._starting: dict[Callable[[], None], set[int]] = {}
        self._timer: asyncio.TimerHandle | None = None

    @property
    def interval(self) -> float:
        """Seconds until the next drain after this one."""
        return SETUP_DRAIN_EVERY if self._starting else DRAIN_EVERY

    def new_counter(self) -> _fastcount.Counter:
        """A native counter (a ``stream_counter.Counter``) with that module's settings, for
        ``add``."""
        counter: _fastcount.Counter = self._module.Counter(*NATIVE_SETTINGS)
        return counter

    def add(self, fd: int, counter: _fastcount.Counter, deliver: Deliver, failed: Failed,
            on_first: Callable[[], None]) -> None:
        """Count socket ``fd``'s RTP into ``counter``; other datagrams go to ``deliver``, its
        errors to ``failed``; ``on_first`` runs once the stream's first packet is counted."""
        self._reader.add(fd, counter)
        self._routes[fd] = (deliver, failed, on_first)
        self._starting.setdefault(on_first, set()).add(fd)
        if self._timer is not None and self._timer.when() > self._loop.time() + SETUP_DRAIN_EVERY:
            self._timer.cancel()
            self._timer = None
        if self._timer is None:
            self._timer = self._loop.call_later(SETUP_DRAIN_EVERY, self._drain)

    def remove(self, fd: int) -> None:
        route = self._routes.pop(fd, None)
        if route is None:
            return
        self._reader.remove(fd)
        on_first = route[2]
        starting = self._starting.get(on_first)
        if starting is not None:
            starting.discard(fd)
            if not starting:
                del self._starting[on_first]

    def _started(self, on_first: Callable[[], None]) -> None:
        """A stream's first packet: none of its peer's sockets is starting any more."""
        self._starting.pop(on_first, None)
        on_first()

    def _drain(self) -> None:
        self._timer = None
        try:
            self._handle(self._reader.drain())
        finally:
            if self._routes:
                self._timer = self._loop.call_later(self.interval, self._drain)

    def _handle(self, reports: list[tuple[int, int, Any, Any]] | None) -> None:
        if reports is None:
            return
        module = self._module
        for fd, kind, value, address in reports:
            route = self._routes.get(fd)
            if route is None:
                continue
            deliver, failed, on_first = route
            if kind == module.DELIVER:
                deliver(value, address)
            elif kind == module.FAILED:
                failed(OSError(value, os.strerror(value)))
            else:
                self._started(on_first)


_readers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, NativeReader] = (
    weakref.WeakKeyDictionary()
)


def native_reader() -> NativeReader | None:
    """The running loop's native reader, or None (no native module)."""
    module = native_module()
    if module is None:
        return None
    loop = asyncio.get_running_loop()
    if loop not in _readers:
        _readers[loop] = NativeReader(loop, module)
    return _readers[loop]

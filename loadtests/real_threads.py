"""One real OS thread decoding for aiortc's receivers in a gevent-patched process.

aiortc's receiver decodes in a ``threading.Thread`` of its own, fed by a ``queue.Queue``, and
hands each frame back with ``run_coroutine_threadsafe``. Under Locust's monkey-patching the
thread and queue become greenlet primitives, and called from the bridge's asyncio thread they
run late or never (measured: mouth-to-ear latency tripled). :func:`install` points aiortc's
receiver module at stand-ins built on the original ``_thread`` primitives (through
``aiortc_internals.patch_receiver_threading``, which says what it relies on): every receiver's
queue feeds one shared decoder thread (``DecoderPool``), which decodes with aiortc's decoders
and hands each batch of frames back to the loop in one ``call_soon_threadsafe``. A thread per
receiver, woken per frame, spent about half of its CPU time in futex calls (perf).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import types
from collections import deque
from collections.abc import Callable
from typing import Any

import av
import gevent.monkey

from media_bench.common.aiortc_internals import patch_receiver_threading

_start_new_thread = gevent.monkey.get_original("_thread", "start_new_thread")
_allocate_lock = gevent.monkey.get_original("_thread", "allocate_lock")
log = logging.getLogger(__name__)
Frames = list[tuple["asyncio.Queue[Any]", Any]]


class DecoderThread:
    """What aiortc's receiver starts as its decoder thread, with the arguments of aiortc's
    ``decoder_worker`` (loop, input queue, track queue, error event): it binds the input queue
    to the process's decoder pool instead of running a thread of its own."""

    def __init__(self, target: Callable[..., Any], name: str = "",
                 args: tuple[Any, ...] = ()) -> None:
        self.name = name
        self._args = args

    def start(self) -> None:
        loop, input_q, output_q, error = self._args
        input_q.bind(_Decoding(loop, output_q, error))

    def join(self, timeout: float | None = None) -> None:
        """Nothing to wait for: the pool delivers the end-of-track marker after the frames."""


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


class DecoderQueue:
    """A receiver's decoder queue: what is put goes to the process's decoder pool."""

    def __init__(self) -> None:
        self._decoding: _Decoding | None = None

    def bind(self, decoding: _Decoding) -> None:
        self._decoding = decoding

    def put(self, item: Any) -> None:
        if self._decoding is not None:
            _pool.put(self._decoding, item)


class _Decoding:
    """One receiver's decoder, and the loop and track queue its frames go to."""

    def __init__(self, loop: asyncio.AbstractEventLoop, output: asyncio.Queue[Any],
                 error: Event) -> None:
        self.loop = loop
        self.output = output
        self.error = error
        self._codec_name: str | None = None
        self._decoder: Any = None

    def decode(self, item: Any) -> list[Any]:
        """Frames for one ``(codec, encoded frame)``; ``None`` (end of track) passes through."""
        from aiortc.codecs import get_decoder

        if item is None:
            self._decoder = None
            return [None]
        codec, encoded_frame = item
        if codec.name != self._codec_name:
            self._decoder = get_decoder(codec)
            self._codec_name = codec.name
        try:
            return list(self._decoder.decode(encoded_frame))
        except av.FFmpegError as exc:
            log.warning("failed to decode %s frame: %s", codec.name, exc)
            self.error.set()
            return []


class DecoderPool:
    """One real thread decoding what every receiver of this process queues, in arrival order;
    it hands the frames back once it has run out of work (or has ``BATCH`` of them), one call
    per loop."""

    BATCH = 64

    def __init__(self) -> None:
        self._jobs: deque[tuple[_Decoding, Any]] = deque()
        self._wake = _allocate_lock()
        self._wake.acquire()
        self._owner_pid: int | None = None

    def put(self, decoding: _Decoding, item: Any) -> None:
        self._jobs.append((decoding, item))
        if self._owner_pid != os.getpid():
            self._owner_pid = os.getpid()
            _start_new_thread(self._run, ())
        if self._wake.locked():
            with contextlib.suppress(RuntimeError):  # signalled meanwhile
                self._wake.release()

    def _run(self) -> None:
        ready: dict[asyncio.AbstractEventLoop, Frames] = {}
        while True:
            try:
                decoding, item = self._jobs.popleft()
            except IndexError:
                for loop, frames in ready.items():
                    self._hand_over(loop, frames)
                ready = {}
                self._wake.acquire()
                continue
            frames = ready.setdefault(decoding.loop, [])
            frames += [(decoding.output, frame) for frame in decoding.decode(item)]
            if len(frames) >= self.BATCH:
                self._hand_over(decoding.loop, ready.pop(decoding.loop))

    @staticmethod
    def _hand_over(loop: asyncio.AbstractEventLoop, frames: Frames) -> None:
        with contextlib.suppress(RuntimeError):  # the loop was closed
            loop.call_soon_threadsafe(_deliver, frames)


def _deliver(frames: Frames) -> None:
    for queue, frame in frames:
        queue.put_nowait(frame)


_pool = DecoderPool()


def install() -> None:
    """Make aiortc's receivers decode on the decoder pool (call once, before any peer exists)."""
    patch_receiver_threading(
        threading=types.SimpleNamespace(Thread=DecoderThread, Event=Event),
        queue=types.SimpleNamespace(Queue=DecoderQueue),
    )

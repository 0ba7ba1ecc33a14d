"""One stream item per tick, handed to any number of aiortc senders without copying.

A ``PacketSource`` holds the newest item of a stream: an encoded ``av.Packet`` (the
sender only packetises it) or, for the naive baseline, an ``av.AudioFrame`` (the sender
encodes it itself). A ``SourceTrack`` is the per-peer ``MediaStreamTrack`` that an
``RTCRtpSender`` reads; switching its source (a role change) takes effect at the next tick.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


class PacketSource:
    """The newest item of one stream plus a wake-up for the tracks waiting on it."""

    def __init__(self) -> None:
        self.tick = -1
        self.item: Any = None
        self.closed = False
        self.reads = 0
        """Items handed to senders since the owner last reset it (packets sent)."""
        self._event = asyncio.Event()

    def publish(self, tick: int, item: Any) -> None:
        self.tick = tick
        self.item = item
        event, self._event = self._event, asyncio.Event()
        event.set()

    def close(self) -> None:
        self.closed = True
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()

    def wake(self) -> None:
        """Wake everything waiting without publishing (a track moved to another source)."""
        event, self._event = self._event, asyncio.Event()
        event.set()


class SourceTrack(MediaStreamTrack):
    """An audio track whose frames are whatever its current source publishes."""

    kind = "audio"

    def __init__(self, source: PacketSource) -> None:
        super().__init__()
        self.source = source
        self._last_tick = -1

    def switch(self, source: PacketSource) -> None:
        """Read from another stream from its next item on."""
        old, self.source = self.source, source
        if old is not source:
            old.wake()  # our waiting recv() re-reads self.source

    async def recv(self) -> Any:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            source = self.source
            # Tick numbers are shared by all sources of a room, so a switch never repeats a tick.
            if source.tick > self._last_tick and source.item is not None:
                self._last_tick = source.tick
                source.reads += 1
                return source.item
            if source.closed:
                self.stop()
                raise MediaStreamError
            await source.wait()

"""What a listener counts of one RTP stream from its packets' headers alone: packets, loss
(extended sequence numbers), RFC 3550 jitter, relative delay and the playout buffer's verdicts.

Two implementations with one interface (``Counter``): ``StreamCounter`` here, and the native
``media_bench.client._fastcount.Counter`` (``media_bench/native/fastcount.c``), which the
counting listeners use when it is built, together with its socket reader
(``media_bench.client.native_count``). Both do the same floating-point operations in the same
order: fed the same headers at the same instants they give the same figures, bit for bit
(tests/test_stream_counter.py).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

from media_bench.client.quality import PLAYOUT_DEPTH, PLAYOUT_WINDOW, SETTLE, Playout
from media_bench.common.audio import SAMPLE_RATE

RELATIVE_EVERY = 50
"""Packets between relative-delay samples (one a second)."""
RELATIVE_KEEP = 600
"""Relative-delay samples kept until read (ten minutes)."""

NATIVE_SETTINGS = (SAMPLE_RATE, RELATIVE_EVERY, RELATIVE_KEEP, PLAYOUT_DEPTH, PLAYOUT_WINDOW,
                   SETTLE)
"""The native counter's constructor arguments: the same constants, declared here once."""


class Counter(Protocol):
    """One inbound stream's counts (either implementation)."""

    @property
    def packets(self) -> int: ...
    @property
    def first_arrival(self) -> float | None: ...
    @property
    def jitter(self) -> float: ...
    @property
    def transit(self) -> float: ...
    @property
    def expected(self) -> int: ...
    @property
    def bursts(self) -> list[int]: ...

    def on_header(self, sequence: int, timestamp: int, now: float) -> bool: ...
    def counters(self) -> tuple[int, int]: ...
    def playout_counters(self) -> tuple[int, int]: ...
    def take_relative_delays(self) -> list[float]: ...


class StreamCounter:
    """The Python counter (``Counter``)."""

    def __init__(self) -> None:
        self.packets = 0
        self.first_arrival: float | None = None
        """The arrival instant (``time.monotonic()``) of the first packet."""
        self.jitter = 0.0
        """RFC 3550 interarrival jitter, seconds."""
        self.transit = 0.0
        """The newest packet's arrival minus its RTP timestamp, seconds, relative to the first
        packet's: how much later than the first it came (relative one-way delay)."""
        self.playout = Playout()
        self.relative_delays: deque[float] = deque(maxlen=RELATIVE_KEEP)
        """Every ``RELATIVE_EVERY``-th packet's delay relative to the stream's quickest packet,
        seconds: its arrival minus its RTP timestamp's time, less the least such transit seen.
        It needs no clock shared with the sender, so it holds across machines; it shows
        queueing and stalls, not the path's fixed delay."""
        self._base_seq: int | None = None
        self._highest = -1
        """Highest sequence number seen, extended past 16 bits."""
        self._last: tuple[float, int] | None = None
        """(arrival, RTP timestamp) of the previous packet."""
        self._media_seconds = 0.0
        """RTP time since the first packet, unwrapped."""
        self._least_transit = math.inf

    def on_header(self, sequence: int, timestamp: int, now: float) -> bool:
        """Count one packet that arrived at ``now``; True if it is the stream's first."""
        self.packets += 1
        first = self._base_seq is None
        if first:
            self.first_arrival = now
            self._base_seq = self._highest = extended = sequence
        else:
            ahead = (sequence - self._highest) & 0xFFFF  # a late packet wraps to >= 0x8000
            if ahead < 0x8000:
                self._highest += ahead
                extended = self._highest
            else:
                extended = self._highest - (0x10000 - ahead)
        if self._last is not None:
            last_arrival, last_timestamp = self._last
            # RTP timestamps wrap at 2**32 (and start anywhere): take the difference signed
            stamped = ((timestamp - last_timestamp + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            deviation = (now - last_arrival) - stamped / SAMPLE_RATE
            self.jitter += (abs(deviation) - self.jitter) / 16
            self.transit += deviation
            self._media_seconds += stamped / SAMPLE_RATE
        transit = now - self._media_seconds
        if transit < self._least_transit:
            self._least_transit = transit
        if self.packets % RELATIVE_EVERY == 0:
            self.relative_delays.append(transit - self._least_transit)
        self._last = (now, timestamp)
        self.playout.arrive(extended, self.transit)
        return first

    @property
    def expected(self) -> int:
        return 0 if self._base_seq is None else self._highest - self._base_seq + 1

    @property
    def highest(self) -> int:
        """The highest sequence number seen, extended past 16 bits (-1 before any)."""
        return self._highest

    def counters(self) -> tuple[int, int]:
        """(packets received, packets expected) so far, for windowed loss."""
        return self.packets, self.expected

    def playout_counters(self) -> tuple[int, int]:
        """(packets played, packets decided) so far, for windowed loss after the playout
        buffer (``quality.Playout``); decides what has settled first."""
        self.playout.settle(self._highest)
        return self.playout.played, self.playout.decided

    @property
    def bursts(self) -> list[int]:
        """Lengths of the finished runs of concealed frames, oldest first."""
        return list(self.playout.bursts)

    def take_relative_delays(self) -> list[float]:
        """The relative-delay samples since the last take, oldest first."""
        taken = list(self.relative_delays)
        self.relative_delays.clear()
        return taken

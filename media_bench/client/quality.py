"""What a listener hears, as figures: loss after the playout buffer, and a MOS estimate.

**Loss after the playout buffer** ("loss after concealment"): a receiver plays each packet
``PLAYOUT_DEPTH`` after the fastest recent one; a packet that never came, or came after its
playout time, is a frame the decoder had to conceal. ``Playout`` counts both from RTP
sequence numbers and arrival times (no decoding, so every listener can afford it), and the
runs of consecutive concealed frames (loss bursts).

**Quality score**: the ITU-T G.107 E-model, from that loss, its burstiness and the one-way
delay (mouth to arrival plus the playout buffer), mapped to a MOS (G.107 Annex B). Why the
E-model and not a spectral distance between what was spoken and what was heard: a listener
hears a mix, re-timed by the server's clock and scaled by its mixer, not one speaker's
signal, so there is no single reference to align to; most listeners in a swarm only count
packets, and the E-model is computed from figures every listener measures. Jitter enters as
the E-model intends: through the buffer's delay and the packets it plays too late.

Codec values: ITU-T G.113 lists no Ie/Bpl for Opus that we could source. We use G.113
Appendix I's values for G.711 with packet loss concealment (Ie 0, Bpl 25.1): like mono Opus
at 32 kbit/s it is transparent on the narrowband E-model's scale and conceals lost frames.
So the score ranks runs against each other (loss, bursts, delay); it is not a listening test.
"""

from __future__ import annotations

import math
from collections import deque

ROOM_ARRIVAL_P99_MS = 150.0
"""Mouth-to-arrival p99 (ms) past which a room's listeners hear it too late for it to work: a
swarm fails above it (``--max-latency-ms``'s default) and a room ramp does not count the step
as carried (``bench cascade``)."""
PLAYOUT_DEPTH = 0.080
"""Seconds a packet may arrive after the fastest recent one and still play: aiortc's fixed
audio jitter buffer holds 80 ms."""
PLAYOUT_WINDOW = 100
"""Packets (2 s of audio) over which the fastest arrival anchors the playout clock: the
buffer follows a lasting change of delay within that."""
SETTLE = 50
"""Packets behind the newest before a sequence number's fate is decided (1 s: later than any
playout deadline)."""

R_DEFAULT = 93.2
"""G.107's rating with every parameter at its default, before codec, loss and delay."""
IE_CODEC = 0.0
BPL_CODEC = 25.1
"""Equipment impairment and packet-loss robustness (G.113 Appendix I, G.711 with PLC)."""


class Playout:
    """Which packets of one RTP stream a fixed-depth playout buffer would have played.

    Fed each packet's extended sequence number and its transit time (arrival minus RTP
    timestamp, any constant offset), in arrival order. A sequence number is decided once the
    stream is ``SETTLE`` packets past it: played, or concealed (lost or late).
    """

    def __init__(self) -> None:
        self._in_time: set[int] = set()
        self._fastest: deque[tuple[int, float]] = deque()
        """(arrival index, transit) of candidates for the window's fastest, increasing."""
        self._arrivals = 0
        self._decided: int | None = None
        """Highest sequence number decided so far."""
        self._run = 0
        self.played = 0
        self.concealed = 0
        self.late = 0
        self.bursts: list[int] = []
        """Lengths of the finished runs of concealed frames, oldest first."""

    def arrive(self, sequence: int, transit: float) -> None:
        index = self._arrivals = self._arrivals + 1
        fastest = self._fastest
        while fastest and fastest[-1][1] >= transit:
            fastest.pop()
        fastest.append((index, transit))
        while fastest[0][0] <= index - PLAYOUT_WINDOW:
            fastest.popleft()
        if self._decided is None:
            self._decided = sequence - 1
        if sequence <= self._decided:
            return  # decided already: far too late, or a duplicate
        if transit - fastest[0][1] <= PLAYOUT_DEPTH:
            self._in_time.add(sequence)
        else:
            self.late += 1

    def settle(self, highest: int) -> None:
        """Decide every sequence number ``SETTLE`` behind ``highest``."""
        if self._decided is None:
            return
        in_time = self._in_time
        for sequence in range(self._decided + 1, highest - SETTLE + 1):
            if sequence in in_time:
                in_time.discard(sequence)
                self.played += 1
                if self._run:
                    self.bursts.append(self._run)
                    self._run = 0
            else:
                self.concealed += 1
                self._run += 1
        self._decided = max(self._decided, highest - SETTLE)

    @property
    def decided(self) -> int:
        return self.played + self.concealed


def burst_ratio(loss: float, mean_burst: float) -> float:
    """G.107's BurstR: the mean loss run over the mean run random loss would give,
    ``1 / (1 - loss)``; 1 for random loss, above 1 for bursty."""
    if loss <= 0 or not math.isfinite(mean_burst) or mean_burst <= 0:
        return 1.0
    return max(1.0, mean_burst * (1.0 - loss))


def rating(loss: float, one_way_delay: float, burst: float = 1.0) -> float:
    """The E-model's R from the loss after the playout buffer (fraction), the mouth-to-ear
    delay (seconds) and BurstR (``burst_ratio``)."""
    ppl = 100.0 * loss
    ie_eff = IE_CODEC + (95.0 - IE_CODEC) * ppl / (ppl / burst + BPL_CODEC)
    return R_DEFAULT - delay_impairment(one_way_delay) - ie_eff


def delay_impairment(one_way_delay: float) -> float:
    """G.107's Idd: nothing up to 100 ms, then rising with the log of the delay."""
    ta = one_way_delay * 1000.0
    if ta <= 100.0:
        return 0.0
    x = math.log2(ta / 100.0)
    return 25.0 * (math.pow(1 + x**6, 1 / 6) - 3 * math.pow(1 + (x / 3) ** 6, 1 / 6) + 2)


def mos(r: float) -> float:
    """G.107 Annex B: R to an estimated mean opinion score, 1 to 4.5."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6


def mos_estimate(loss: float, one_way_delay: float, mean_burst: float = math.nan) -> float:
    """MOS from loss after the playout buffer, mouth-to-ear delay and mean loss run."""
    return mos(rating(loss, one_way_delay, burst_ratio(loss, mean_burst)))

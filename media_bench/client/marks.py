"""Synthetic speech with timing marks, and the detector that times them at the far end.

A mark says when it was spoken, so its latency never wraps.

**Schedule.** The wall clock is cut into 20 ms grid slots (``wall_seconds / 20 ms``) and the
slots into cells of ``MARK_EVERY`` (0.5 s). Cell ``n`` holds mark number ``n``: two frames
(40 ms) starting ``MARK_OFFSETS[n % MARK_CODES]`` slots into the cell (0..20). Every speaker
follows the same schedule, so on-time speakers' marks coincide (the same tones, added) while
a delayed speaker's marks land elsewhere: the offsets are chosen so that whatever the delay, at
most 14 of 40 of its marks (35%; a 3 s delay: 8 of 40) fall within 3 frames of an on-time mark
and run into it (see Detection for what is still read of those).

**Code.** A mark is a chord held over its two frames: a pilot tone (``PILOT_HZ``) that says
"a mark", one of ``LOW_HZ`` (5 tones) and one of ``HIGH_HZ`` (8 tones), which together spell
``n % MARK_CODES`` (40 codes: the code repeats every 20 s, also the speech's cycle). Every tone
sits between 1.75 and 5.25 kHz, above the voice's harmonics (<1.5 kHz), 250 Hz apart (ten
bins of a 40 ms window), and is a multiple of 50 Hz, so each frame holds whole cycles. Through
two passes of Opus at 32 kbps (speaker to server, mix to listener), mixed with other speakers'
voices, the chord keeps its tones; the codec's look-ahead smears the burst over up to three
decoded frames, which is why the detector reads the whole burst rather than single frames.
Measured (speaker encode, server decode, mix, encode at 32 kbps, listener decode; 30 s): one
speaker, and six on time, read 60 of 60 marks; thirteen on time (their marks and speech clip
the mix) 58 of 60; an on-time speaker with one 700 ms late read 50 of 60 each (the rest
blurred together, unreadable); three on time with one 700 ms late, 60 and 47; none misread.

**Detection.** ``MarkDetector`` gathers the consecutive frames in which the pilot is present
(a burst), then reads the strongest tone of each group over the burst; a burst longer than one
mark's (two marks run together) is read at each end, where one mark is alone. A group whose
strongest tone is weak (against the pilot and against the noise between the tones), or not
``DOMINANCE`` times its runner-up (two marks blurred together, noise), makes the mark
unreadable: it is never guessed. A readable code ``c`` is the newest mark number ``n = c (mod 40)``
spoken no later than the burst's first frame arrived, so latency = arrival - spoken instant,
unambiguous up to 20 s. A mark whose number skips past the next one due counts the skipped
ones as lost (unreadable and never-arrived alike; ``lost_by`` also counts marks overdue at the
end); counting starts at the first mark read. Marks older than the newest read (a more
delayed speaker in the same mix) are timed but do not move the count.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from media_bench.common.audio import (
    FRAME_SAMPLES,
    FRAME_SECONDS,
    FULL_SCALE,
    SAMPLE_RATE,
    Pcm,
    tone_power,
)

MARK_EVERY = 25
"""Slots per cell, one mark per cell (0.5 s)."""
MARK_FRAMES = 2
"""Frames a mark lasts (40 ms)."""
MARK_CODES = 40
"""Marks before their codes repeat (20 s): latencies are unambiguous up to that."""
MARK_OFFSETS = (0, 0, 6, 20, 6, 9, 19, 15, 20, 1, 12, 14, 18, 1, 18, 14, 18, 14, 3, 2,
                12, 9, 3, 10, 20, 20, 11, 4, 10, 19, 9, 6, 14, 5, 1, 14, 17, 10, 0, 1)  # fmt: skip
"""Slot in its cell at which each code's mark starts (searched once to keep a delayed
speaker's marks apart from on-time ones for every delay; see the module docstring)."""
PILOT_HZ = 3000.0
LOW_HZ = (1750.0, 2000.0, 2250.0, 2500.0, 2750.0)
HIGH_HZ = (3500.0, 3750.0, 4000.0, 4250.0, 4500.0, 4750.0, 5000.0, 5250.0)
GAP_HZ = tuple(hz + 125.0 for hz in (1500.0, *LOW_HZ, PILOT_HZ, *HIGH_HZ))
"""Frequencies halfway between the tones, where a mark has next to nothing: the noise floor
a mark must stand out from (clipped or crowded speech spreads over them too)."""
PILOT_AMPLITUDE = 0.06
CODE_AMPLITUDE = 0.05
"""Quiet enough that six on-time speakers' marks, added in phase, do not clip the mix."""
PILOT_THRESHOLD = 0.0005
"""Goertzel power at PILOT_HZ above which a decoded frame carries (part of) a mark: a seventh
of the pilot's own (0.0036), so a frame holding 40% of a mark's duration still counts."""
MARK_SPAN = 3
"""Decoded frames a mark's burst may cover (two, smeared by the codec's look-ahead)."""
MAX_BURST = 2 * MARK_SPAN
"""Frames a burst may last (two marks run together); longer is a steady tone, no mark."""
DOMINANCE = 4.0
"""A code tone must have this many times the power of its group's runner-up (6 dB)."""
NOISE_MARGIN = 10.0
"""... and this many times the median power at GAP_HZ (a mark's own tones and artefacts touch
only the few gaps beside them; speech spread over the band raises them all)."""
CODE_FLOOR = 0.15
"""... and at least this share of the power it would have, relative to the pilot's."""
VOICE_CYCLE = 1000
"""Frames (20 s) after which the speech repeats exactly: every component of ``_voice`` has a
whole number of cycles in 20 s, and so has the mark schedule (40 cells of 25 slots)."""
_WRAP = SAMPLE_RATE * 1000  # every frequency used has a whole number of cycles in 1000 s

assert len(LOW_HZ) * len(HIGH_HZ) >= MARK_CODES
assert len(MARK_OFFSETS) == MARK_CODES
assert max(MARK_OFFSETS) + MARK_FRAMES + 3 <= MARK_EVERY  # 3 quiet slots between marks
assert (MARK_CODES * MARK_EVERY) % VOICE_CYCLE == 0


def grid_index(wall: float) -> int:
    """The 20 ms grid slot a wall-clock instant falls in."""
    return math.floor(wall / FRAME_SECONDS)


def mark_start(number: int) -> int:
    """The slot at which mark ``number`` (its cell's index) is spoken."""
    return number * MARK_EVERY + MARK_OFFSETS[number % MARK_CODES]


def mark_at(slot: int) -> tuple[int, int] | None:
    """(mark number, frame within the mark) when ``slot`` carries a mark, else None."""
    number = slot // MARK_EVERY
    part = slot - mark_start(number)
    return (number, part) if 0 <= part < MARK_FRAMES else None


def code_tones(code: int) -> tuple[float, float]:
    """The low and high tone that spell ``code``."""
    return LOW_HZ[code % len(LOW_HZ)], HIGH_HZ[code // len(LOW_HZ)]


def latest_mark(code: int, wall: float) -> int:
    """The newest mark number with ``code`` spoken no later than ``wall`` (one slot of slack)."""
    latest = grid_index(wall) + 1
    number = latest // MARK_EVERY
    number -= (number - code) % MARK_CODES
    if mark_start(number) > latest:
        number -= MARK_CODES
    return number


@dataclass
class Signal:
    """Voice-like speech (gliding pitch, harmonics, syllables) or a pure tone, plus marks."""

    tone_hz: float | None = None
    amplitude: float = 0.25
    marks: bool = True

    def frame(self, index: int) -> Pcm:
        """The frame for grid slot ``index``; phase-continuous across slots."""
        if self.tone_hz is None:
            # speech repeats every VOICE_CYCLE frames: many speaker bots share one cache
            return _voice_frame(self.amplitude, self.marks, index % VOICE_CYCLE)
        return self._synthesise(index)

    def _synthesise(self, index: int) -> Pcm:
        n = (index * FRAME_SAMPLES) % _WRAP + np.arange(FRAME_SAMPLES)
        t = n / SAMPLE_RATE
        mark = mark_at(index) if self.marks else None
        if mark is not None:
            wave = _chord(mark[0] % MARK_CODES)
        elif self.tone_hz is not None:
            wave = self.amplitude * np.sin(2 * np.pi * self.tone_hz * t)
        else:
            wave = self.amplitude * _voice(t)
        pcm: Pcm = np.round(wave * FULL_SCALE).astype(np.int16)
        return pcm


def _chord(code: int) -> npt.NDArray[np.float64]:
    """One frame of the mark that spells ``code`` (every tone has whole cycles in a frame)."""
    t = np.arange(FRAME_SAMPLES) / SAMPLE_RATE
    low, high = code_tones(code)
    wave: npt.NDArray[np.float64] = PILOT_AMPLITUDE * np.sin(2 * np.pi * PILOT_HZ * t) + (
        CODE_AMPLITUDE * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t))
    )
    return wave


@functools.lru_cache(maxsize=4 * VOICE_CYCLE)
def _voice_frame(amplitude: float, marks: bool, slot: int) -> Pcm:
    frame = Signal(tone_hz=None, amplitude=amplitude, marks=marks)._synthesise(slot)
    frame.setflags(write=False)
    return frame


def _voice(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Pitch glides 110..210 Hz; phase is the closed-form integral of the pitch.
    phase = 2 * np.pi * (160.0 * t - 50.0 / (2 * np.pi * 0.25) * np.cos(2 * np.pi * 0.25 * t))
    wave = sum(np.sin(h * phase) / h for h in range(1, 8))
    syllables = np.clip(np.sin(2 * np.pi * 3.5 * t), 0.0, None) ** 0.5
    phrases = (np.sin(2 * np.pi * 0.2 * t) > -0.6).astype(np.float64)
    out: npt.NDArray[np.float64] = 0.55 * np.asarray(wave) * syllables * phrases
    return out


@functools.lru_cache(maxsize=MAX_BURST)
def _code_basis(n: int) -> npt.NDArray[np.float64]:
    """Cosines and sines of the pilot, LOW_HZ, HIGH_HZ and GAP_HZ over ``n`` samples (rows in
    pairs)."""
    t = np.arange(n) / SAMPLE_RATE
    tones = (PILOT_HZ, *LOW_HZ, *HIGH_HZ, *GAP_HZ)
    rows = [f(2 * np.pi * hz * t) for hz in tones for f in (np.cos, np.sin)]
    basis = np.stack(rows) / FULL_SCALE
    basis.setflags(write=False)
    return basis


def read_code(burst: npt.NDArray[np.int16]) -> int | None:
    """The code a burst of decoded samples spells, or None when it cannot be read."""
    n = len(burst)
    projections = _code_basis(n) @ burst
    powers = 4.0 * (projections[0::2] ** 2 + projections[1::2] ** 2) / (n * n)
    high_at = 1 + len(LOW_HZ)
    gaps_at = high_at + len(HIGH_HZ)
    pilot, low, high = powers[0], powers[1:high_at], powers[high_at:gaps_at]
    noise = NOISE_MARGIN * float(np.median(powers[gaps_at:]))
    floor = max(CODE_FLOOR * pilot * (CODE_AMPLITUDE / PILOT_AMPLITUDE) ** 2, noise)
    if pilot < noise:
        return None
    digits = []
    for group in (low, high):
        ranked = np.sort(group)
        if ranked[-1] < floor or ranked[-1] < DOMINANCE * ranked[-2]:
            return None
        digits.append(int(np.argmax(group)))
    code = digits[0] + len(LOW_HZ) * digits[1]
    return code if code < MARK_CODES else None


LATE_GRACE = 1.0
"""Seconds past its expected arrival (spoken + the last latency read) after which
``lost_by`` counts a mark that has not come as lost."""


@dataclass
class MarkDetector:
    """Finds marks in a stream of decoded frames, reads their codes and records their latency.

    ``latencies`` holds one entry (seconds) per mark read; ``unreadable`` counts bursts whose
    code could not be read; ``lost`` counts marks that never arrived readable (see the module
    docstring)."""

    latencies: list[float] = field(default_factory=list)
    unreadable: int = 0
    lost: int = 0
    _burst: list[tuple[Pcm, float]] = field(default_factory=list)
    _overlong: bool = False
    _next_due: int | None = None
    _last_latency: float = 0.0

    def feed(self, pcm: Pcm, at_wall: float) -> float | None:
        """Feed one decoded frame that became available at ``at_wall``; returns the latency
        of a mark read on this frame (its burst having ended), else None."""
        if tone_power(pcm, PILOT_HZ) > PILOT_THRESHOLD:
            if len(self._burst) < MAX_BURST and not self._overlong:
                self._burst.append((pcm, at_wall))
            else:  # a steady pilot-band tone, not a mark: ignore it until it stops
                self._burst.clear()
                self._overlong = True
            return None
        self._overlong = False
        if not self._burst:
            return None
        burst, self._burst = self._burst, []
        if len(burst) <= MARK_SPAN:
            parts = [(burst, burst[0][1])]
        else:  # two marks run together: each end holds one of them alone
            parts = [(burst[:MARK_FRAMES], burst[0][1]),
                     (burst[-MARK_FRAMES:], burst[-MARK_SPAN][1])]
        read: set[int] = set()
        latency = None
        for frames, onset in parts:
            code = read_code(np.concatenate([pcm for pcm, _ in frames]))
            if code is None:
                continue
            number = latest_mark(code, onset)
            if number not in read:
                read.add(number)
                latency = self._timed(number, onset)
        if not read:
            self.unreadable += 1
        return latency

    def _timed(self, number: int, arrived: float) -> float:
        latency = arrived - mark_start(number) * FRAME_SECONDS
        if self._next_due is None or number >= self._next_due:
            if self._next_due is not None:
                self.lost += number - self._next_due
            self._next_due = number + 1
            self._last_latency = latency
        self.latencies.append(latency)
        return latency

    def lost_by(self, now: float) -> int:
        """``lost`` plus the marks due since the last one read that are overdue at ``now``
        (not come ``LATE_GRACE`` seconds after they would have at the last latency read)."""
        if self._next_due is None:
            return self.lost
        newest = grid_index(now - self._last_latency - LATE_GRACE)
        number = newest // MARK_EVERY
        if mark_start(number) > newest:
            number -= 1
        return self.lost + max(0, number - self._next_due + 1)

"""Synthetic speech with timing marks, and the detector that times them at the far end.

Marks sit on a wall-clock grid: a 3 kHz burst fills every frame whose grid index
(``wall_seconds / 20 ms``) is a multiple of ``MARK_EVERY``. Sender and receiver share this
machine's clock, so a receiver that detects a burst knows when it was spoken: at the last grid
instant before it arrived (latencies are far below the 0.5 s spacing).
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
"""Frames between marks (0.5 s)."""
MARK_HZ = 3000.0
MARK_PERIOD = MARK_EVERY * FRAME_SECONDS
MARK_THRESHOLD = 0.004
"""Goertzel power at MARK_HZ above which a decoded frame carries a mark."""
_WRAP = SAMPLE_RATE * 1000  # every frequency used has a whole number of cycles in 1000 s


def grid_index(wall: float) -> int:
    """The 20 ms grid slot a wall-clock instant falls in."""
    return math.floor(wall / FRAME_SECONDS)


def is_mark_slot(index: int) -> bool:
    return index % MARK_EVERY == 0


def last_mark_time(wall: float) -> float:
    """When the newest mark at or before ``wall`` was spoken."""
    return math.floor(wall / MARK_PERIOD) * MARK_PERIOD


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
        if self.marks and is_mark_slot(index):
            wave = 0.3 * np.sin(2 * np.pi * MARK_HZ * (np.arange(FRAME_SAMPLES) / SAMPLE_RATE))
        elif self.tone_hz is not None:
            wave = self.amplitude * np.sin(2 * np.pi * self.tone_hz * t)
        else:
            wave = self.amplitude * _voice(t)
        pcm: Pcm = np.round(wave * FULL_SCALE).astype(np.int16)
        return pcm


VOICE_CYCLE = 1000
"""Frames (20 s) after which the speech repeats exactly: every component of ``_voice`` has a
whole number of cycles in 20 s, and so does the mark grid (25 frames)."""


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


@dataclass
class MarkDetector:
    """Finds mark onsets in a stream of decoded frames and records their latency."""

    latencies: list[float] = field(default_factory=list)
    _previous: bool = False

    def feed(self, pcm: Pcm, at_wall: float) -> float | None:
        """Feed one decoded frame that became available at ``at_wall``."""
        present = tone_power(pcm, MARK_HZ) > MARK_THRESHOLD
        onset = present and not self._previous
        self._previous = present
        if not onset:
            return None
        latency = at_wall - last_mark_time(at_wall)
        self.latencies.append(latency)
        return latency

"""PCM conventions and signal helpers: mono int16 frames of 20 ms at 48 kHz."""

from __future__ import annotations

import fractions
import functools

import av
import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
FULL_SCALE = 32767

Pcm = npt.NDArray[np.int16]
"""One mono frame: ``FRAME_SAMPLES`` int16 samples."""


def to_mono(frame: av.AudioFrame) -> Pcm:
    """Down-mix a decoded s16 frame (mono, or packed/planar stereo) to mono int16."""
    data: npt.NDArray[np.int16] = np.asarray(frame.to_ndarray(), dtype=np.int16)
    channels = frame.layout.nb_channels
    if channels == 1:
        mono: Pcm = data.reshape(-1)
        return mono
    packed = data.shape[0] == 1  # L R L R ...
    rows = [data[0, c::channels] for c in range(channels)] if packed else list(data)
    summed = rows[0].astype(np.int32)
    for row in rows[1:]:
        summed += row
    mixed: Pcm = (summed // channels).astype(np.int16)
    return mixed


_INT16_MIN, _INT16_MAX = np.int32(-32768), np.int32(32767)


def clip16(mix: npt.NDArray[np.int32]) -> Pcm:
    """Saturate an int32 mix to int16 (``np.clip``'s argument checks cost more than the work
    on a 960-sample frame: this runs up to 14 times a tick)."""
    return np.minimum(np.maximum(mix, _INT16_MIN), _INT16_MAX).astype(np.int16)


def to_frame(pcm: Pcm, pts: int) -> av.AudioFrame:
    """Wrap one mono frame as a PyAV frame with its timestamp."""
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = TIME_BASE
    return frame


def level_dbov(pcm: Pcm) -> float:
    """RMS level in dB relative to full scale (-127 for digital silence)."""
    samples = pcm.astype(np.float32)
    rms = float(np.sqrt(np.dot(samples, samples) / max(1, len(samples))))
    if rms < 1.0:
        return -127.0
    return max(-127.0, 20.0 * float(np.log10(rms / FULL_SCALE)))


def tone_power(pcm: npt.NDArray[np.int16], hz: float) -> float:
    """Relative power of one frequency in a block (Goertzel), 0..~1 for a full-scale sine."""
    n = len(pcm)
    if n == 0:
        return 0.0
    re, im = _tone_basis(n, hz) @ pcm
    return 4.0 * float(re * re + im * im) / (n * n)


@functools.lru_cache(maxsize=32)
def _tone_basis(n: int, hz: float) -> npt.NDArray[np.float64]:
    """Cosine and sine of ``hz`` over ``n`` samples, scaled from int16 to full scale."""
    t = np.arange(n) / SAMPLE_RATE
    basis = np.stack([np.cos(2 * np.pi * hz * t), np.sin(2 * np.pi * hz * t)]) / FULL_SCALE
    basis.setflags(write=False)
    return basis


def spectrum_peaks(pcm: npt.NDArray[np.int16], count: int = 4) -> list[float]:
    """The ``count`` strongest frequencies (Hz) of a recording, strongest first."""
    x = pcm.astype(np.float64) * np.hanning(len(pcm))
    mags = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(pcm), 1 / SAMPLE_RATE)
    peaks: list[float] = []
    order = np.argsort(mags)[::-1]
    for index in order:
        hz = float(freqs[index])
        if hz < 50:
            continue
        if all(abs(hz - p) > 30 for p in peaks):
            peaks.append(hz)
        if len(peaks) == count:
            break
    return peaks


def band_ratio(pcm: npt.NDArray[np.int16], hz: float, width: float = 20.0) -> float:
    """Share of a recording's spectral energy within ``width`` Hz of ``hz``."""
    x = pcm.astype(np.float64) * np.hanning(len(pcm))
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / SAMPLE_RATE)
    total = float(power[freqs > 50].sum())
    if total <= 0:
        return 0.0
    return float(power[np.abs(freqs - hz) <= width].sum()) / total

"""Opus straight from libopus through ctypes: the copy PyAV's wheel bundles (the same libopus
PyAV encodes with), else the system's ``libopus.so.0``.

Why not PyAV here: its encoder passes every frame through a filter graph (``abuffer``,
``aformat``, ``abuffersink``) that re-cuts it to the codec's frame size, even when the frame
is already exactly one 20 ms Opus frame, and wraps it in a new ``AudioFrame`` first. Measured on
this machine, mono 32 kbps, complexity 0: 133 us per frame through PyAV, 80-90 us here. The
mixer encodes up to 14 frames a tick, so that difference is a third of a 13-speaker tick.

``codec`` uses this module when the library loads and PyAV otherwise; both are tested.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path
from typing import Final

import av
import numpy as np

from media_bench.common.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm

OPUS_APPLICATION_AUDIO: Final = 2049
"""The encoders' application (``codec.OPUS_APPLICATION`` names it for PyAV). Measured on this
machine on the bench's speech, mono 32 kbps: ``audio`` (CELT) encodes in 33 / 58 us per frame at
complexity 0 / 5 against 86 / 173 us for ``voip`` (SILK / hybrid), and its decoded audio is
closer to what was spoken (log-spectral distance 200 Hz-8 kHz 9.2 / 6.5 dB against 14.9 /
13.9 dB). A room's mix also carries music and several voices at once, which CELT codes as is."""
OPUS_SET_BITRATE_REQUEST: Final = 4002
OPUS_SET_COMPLEXITY_REQUEST: Final = 4010
OPUS_SET_VBR_CONSTRAINT_REQUEST: Final = 4020
MAX_PACKET_BYTES: Final = 1275
"""The largest Opus packet of one frame (RFC 6716, 3.2.1)."""
MAX_FRAME_SAMPLES: Final = SAMPLE_RATE * 120 // 1000
"""The longest frame a packet may decode to: 120 ms."""


class LibopusError(RuntimeError):
    """libopus refused a call; the message names it and libopus's own error text."""


def _candidates() -> list[str]:
    """PyAV's bundled libopus first (its wheels keep it in ``av.libs`` beside the package),
    then the system's."""
    bundled = sorted(str(path) for path in (Path(av.__file__).parent.parent / "av.libs").glob(
        "libopus*.so*"))  # fmt: skip
    system = ctypes.util.find_library("opus")
    return bundled + ([system] if system else [])


def _load() -> ctypes.CDLL | None:
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        return None
    lib.opus_strerror.restype = ctypes.c_char_p
    lib.opus_strerror.argtypes = [ctypes.c_int]
    lib.opus_encoder_create.restype = ctypes.c_void_p
    lib.opus_encoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.c_int,
                                        ctypes.POINTER(ctypes.c_int)]  # fmt: skip
    lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_encoder_ctl.restype = ctypes.c_int
    lib.opus_encoder_get_size.restype = ctypes.c_int
    lib.opus_encoder_get_size.argtypes = [ctypes.c_int]
    lib.opus_encode.restype = ctypes.c_int32
    lib.opus_encode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                ctypes.c_void_p, ctypes.c_int32]  # fmt: skip
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int,
                                        ctypes.POINTER(ctypes.c_int)]  # fmt: skip
    lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_decode.restype = ctypes.c_int
    lib.opus_decode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32,
                                ctypes.c_void_p, ctypes.c_int, ctypes.c_int]  # fmt: skip
    return lib


LIBOPUS: Final = _load()
"""The loaded library, or None where the system has none (``codec`` then uses PyAV)."""


def _library() -> ctypes.CDLL:
    if LIBOPUS is None:
        raise LibopusError("no libopus: neither PyAV's bundled one nor the system's loads")
    return LIBOPUS


def _check(lib: ctypes.CDLL, code: int, call: str) -> int:
    if code < 0:
        raise LibopusError(f"{call}: {lib.opus_strerror(code).decode()}")
    return code


class NativeOpusEncoder:
    """One mono 48 kHz Opus encoder (audio application, VBR): 20 ms int16 frames to payloads."""

    def __init__(self, bitrate: int, complexity: int) -> None:
        lib = self._lib = _library()
        error = ctypes.c_int()
        state = lib.opus_encoder_create(SAMPLE_RATE, 1, OPUS_APPLICATION_AUDIO,
                                        ctypes.byref(error))  # fmt: skip
        _check(lib, error.value, "opus_encoder_create")
        self._state = ctypes.c_void_p(state)
        self._size = lib.opus_encoder_get_size(1)
        self._settings = bitrate, complexity
        self._apply_settings()
        self._out = ctypes.create_string_buffer(MAX_PACKET_BYTES)

    def _apply_settings(self) -> None:
        bitrate, complexity = self._settings
        # unconstrained VBR, as PyAV's (FFmpeg's) libopus wrapper sets it: the same bytes
        for request, value in ((OPUS_SET_BITRATE_REQUEST, bitrate),
                               (OPUS_SET_COMPLEXITY_REQUEST, complexity),
                               (OPUS_SET_VBR_CONSTRAINT_REQUEST, 0)):  # fmt: skip
            _check(self._lib, self._lib.opus_encoder_ctl(self._state, request,
                                                         ctypes.c_int32(value)),
                   f"opus_encoder_ctl({request}, {value})")  # fmt: skip

    def encode(self, pcm: Pcm) -> bytes:
        """One frame of ``FRAME_SAMPLES`` samples to one Opus payload."""
        if pcm.shape != (FRAME_SAMPLES,) or pcm.dtype != np.int16:
            raise ValueError(f"a frame is {FRAME_SAMPLES} int16 samples, not {pcm.shape}")
        frame = pcm if pcm.flags.c_contiguous else np.ascontiguousarray(pcm)
        size = self._lib.opus_encode(self._state, frame.ctypes.data, FRAME_SAMPLES,
                                     self._out, MAX_PACKET_BYTES)  # fmt: skip
        return ctypes.string_at(self._out, _check(self._lib, size, "opus_encode"))

    def continue_from(self, other: NativeOpusEncoder) -> None:
        """Take over ``other``'s stream: its whole state (history, look-ahead, the decoder's
        expected prediction state) is copied, then this encoder's own bitrate and complexity
        are set again. libopus documents the encoder state as one contiguous block that a
        shallow copy (memcpy) duplicates; a few microseconds, against a whole encode."""
        ctypes.memmove(self._state, other._state, self._size)
        self._apply_settings()

    def __del__(self) -> None:
        state = getattr(self, "_state", None)
        if state is not None:
            self._lib.opus_encoder_destroy(state)


class NativeOpusDecoder:
    """One mono 48 kHz Opus decoder (stereo streams are down-mixed by libopus)."""

    def __init__(self) -> None:
        lib = self._lib = _library()
        error = ctypes.c_int()
        state = lib.opus_decoder_create(SAMPLE_RATE, 1, ctypes.byref(error))
        _check(lib, error.value, "opus_decoder_create")
        self._state = ctypes.c_void_p(state)
        self._out = np.empty(MAX_FRAME_SAMPLES, dtype=np.int16)

    def decode(self, payload: bytes) -> Pcm | None:
        """The samples of one payload, or None when it does not decode."""
        samples = self._lib.opus_decode(self._state, payload, len(payload),
                                        self._out.ctypes.data, MAX_FRAME_SAMPLES, 0)  # fmt: skip
        if samples <= 0:
            return None
        pcm: Pcm = self._out[:samples].copy()
        return pcm

    def __del__(self) -> None:
        state = getattr(self, "_state", None)
        if state is not None:
            self._lib.opus_decoder_destroy(state)

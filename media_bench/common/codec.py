"""Opus in and out: mono, 48 kHz, one 20 ms packet per frame.

The system's libopus through ``libopus`` when it loads (a third cheaper per frame than
PyAV's encode path: see there), else PyAV's bundled libopus. ``SPACES_LAB_OPUS=pyav`` forces
PyAV, as the tests do to keep that path working.
"""

from __future__ import annotations

import os
from typing import Any

import av
import numpy as np

from media_bench.common.audio import FRAME_SAMPLES, SAMPLE_RATE, TIME_BASE, Pcm, to_frame, to_mono
from media_bench.common.libopus import LIBOPUS, NativeOpusDecoder, NativeOpusEncoder

OPUS_BACKEND_VARIABLE = "SPACES_LAB_OPUS"
OPUS_APPLICATION = "audio"
"""libopus's application for every encoder, both backends (why: see
``libopus.OPUS_APPLICATION_AUDIO``)."""


def native_opus() -> bool:
    """Whether new encoders and decoders use the system's libopus (else PyAV)."""
    return LIBOPUS is not None and os.environ.get(OPUS_BACKEND_VARIABLE, "") != "pyav"


def _pyav_encoder(bitrate: int, complexity: int) -> Any:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = SAMPLE_RATE
    codec.layout = "mono"
    codec.format = "s16"
    codec.bit_rate = bitrate
    codec.time_base = TIME_BASE
    codec.options = {"application": OPUS_APPLICATION, "compression_level": str(complexity)}
    return codec


class OpusEncoder:
    """A mono Opus encoder whose packets carry the caller's pts, ready for an RTP sender."""

    def __init__(self, bitrate: int = 32_000, complexity: int = 5) -> None:
        self._native = NativeOpusEncoder(bitrate, complexity) if native_opus() else None
        self._codec: Any = None if self._native is not None else _pyav_encoder(bitrate, complexity)

    @property
    def state_copyable(self) -> bool:
        """Whether ``continue_from`` works: libopus's state can be copied, PyAV's cannot."""
        return self._native is not None

    def continue_from(self, other: OpusEncoder) -> None:
        """Take over ``other``'s stream from its last frame on, so a decoder that was fed
        ``other``'s packets goes on seamlessly with this encoder's."""
        if self._native is None or other._native is None:
            raise TypeError("only libopus encoders' state can be copied (state_copyable)")
        self._native.continue_from(other._native)

    def encode(self, pcm: Pcm, pts: int) -> av.Packet[Any] | None:
        """Encode one frame; the packet's pts/time_base are set to ``pts`` at 48 kHz."""
        if self._native is not None:
            packet = av.Packet(self._native.encode(pcm))
        else:
            packets = self._codec.encode(to_frame(pcm, pts))
            if not packets:
                return None
            packet = packets[-1]
        packet.pts = pts
        packet.time_base = TIME_BASE
        return packet


class OpusDecoder:
    """Decodes single Opus payloads to mono int16 frames."""

    def __init__(self) -> None:
        self._native = NativeOpusDecoder() if native_opus() else None
        if self._native is not None:
            return
        codec = av.CodecContext.create("libopus", "r")
        codec.sample_rate = SAMPLE_RATE
        codec.layout = "mono"
        codec.format = "s16"
        self._codec = codec

    def decode(self, payload: bytes) -> Pcm | None:
        """One payload to one frame; None when the payload does not decode."""
        if self._native is not None:
            pcm = self._native.decode(payload)
            if pcm is not None and len(pcm) != FRAME_SAMPLES:
                pcm = np.resize(pcm, FRAME_SAMPLES)
            return pcm
        try:
            frames = self._codec.decode(av.Packet(payload))
        except (av.FFmpegError, ValueError):
            return None
        if not frames:
            return None
        pcm = np.concatenate([to_mono(f) for f in frames])
        if len(pcm) != FRAME_SAMPLES:
            pcm = np.resize(pcm, FRAME_SAMPLES)
        return pcm

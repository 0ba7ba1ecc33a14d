"""Opus in and out with PyAV's libopus: mono, 48 kHz, one 20 ms packet per frame."""

from __future__ import annotations

from typing import Any

import av
import numpy as np

from media_bench.common.audio import FRAME_SAMPLES, SAMPLE_RATE, TIME_BASE, Pcm, to_frame, to_mono


class OpusEncoder:
    """A mono Opus encoder whose packets carry the caller's pts, ready for an RTP sender."""

    def __init__(self, bitrate: int = 32_000, complexity: int = 5) -> None:
        codec = av.CodecContext.create("libopus", "w")
        codec.sample_rate = SAMPLE_RATE
        codec.layout = "mono"
        codec.format = "s16"
        codec.bit_rate = bitrate
        codec.time_base = TIME_BASE
        codec.options = {"application": "voip", "compression_level": str(complexity)}
        self._codec = codec

    def encode(self, pcm: Pcm, pts: int) -> av.Packet[Any] | None:
        """Encode one frame; the packet's pts/time_base are set to ``pts`` at 48 kHz."""
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
        codec = av.CodecContext.create("libopus", "r")
        codec.sample_rate = SAMPLE_RATE
        codec.layout = "mono"
        codec.format = "s16"
        self._codec = codec

    def decode(self, payload: bytes) -> Pcm | None:
        """One payload to one frame; None when the payload does not decode."""
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

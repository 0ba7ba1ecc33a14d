"""The machine yardstick: how fast this machine runs the mixer's own work today, recorded in
every benchmark and swarm run so runs on other days (or machines) can be compared
(``spaces-lab compare`` normalises CPU figures by it)."""

from __future__ import annotations

import time

from media_bench.client.marks import Signal
from media_bench.common.audio import FRAME_SAMPLES
from media_bench.common.codec import OpusEncoder


def codec_reference(frames: int = 250) -> dict[str, float]:
    """CPU microseconds per 20 ms frame of the Opus encodes the mixer does, at complexity 0 and
    5: a yardstick of this machine's speed today, so runs on other days can be compared."""
    signal = Signal()
    pcm = [signal.frame(k) for k in range(frames)]
    out = {}
    for complexity in (0, 5):
        encoder = OpusEncoder(32_000, complexity)
        for k in range(20):  # warm-up
            encoder.encode(pcm[k], k * FRAME_SAMPLES)
        began = time.thread_time()
        for k, frame in enumerate(pcm):
            encoder.encode(frame, (k + 20) * FRAME_SAMPLES)
        out[f"opus_encode_c{complexity}_us"] = (time.thread_time() - began) / frames * 1e6
    return out

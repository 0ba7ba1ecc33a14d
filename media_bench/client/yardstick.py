"""The machine yardstick: how fast this machine runs the mixer's own work today, recorded in
every benchmark and swarm run so runs on other days (or machines) can be compared
(``spaces-lab compare`` normalises CPU figures by it)."""

from __future__ import annotations

import time

from media_bench.client.marks import Signal
from media_bench.common.audio import FRAME_SAMPLES
from media_bench.common.codec import OpusEncoder


def codec_reference(frames: int = 250, blocks: int = 5) -> dict[str, float]:
    """CPU microseconds per 20 ms frame of the Opus encodes the mixer does, at complexity 0 and
    5: a yardstick of this machine's speed today, so runs on other days can be compared.

    The fastest of ``blocks`` blocks of ``frames`` frames: on a machine other jobs keep busy, a
    single block's CPU time read up to 25% apart in two runs a minute apart (caches and cores
    shared with the other jobs); the fastest block is what the machine itself can do.
    """
    signal = Signal()
    pcm = [signal.frame(k) for k in range(frames)]
    out = {}
    for complexity in (0, 5):
        encoder = OpusEncoder(32_000, complexity)
        for k in range(20):  # warm-up
            encoder.encode(pcm[k], k * FRAME_SAMPLES)
        timings = []
        for block in range(blocks):
            began = time.thread_time()
            for k, frame in enumerate(pcm):
                encoder.encode(frame, (20 + block * frames + k) * FRAME_SAMPLES)
            timings.append((time.thread_time() - began) / frames * 1e6)
        out[f"opus_encode_c{complexity}_us"] = min(timings)
    return out

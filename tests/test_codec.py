"""Opus through libopus directly (ctypes) and through PyAV: the same bytes, the same audio."""

import numpy as np
import pytest

from media_bench.client.marks import Signal
from media_bench.common import codec
from media_bench.common.audio import FRAME_SAMPLES, spectrum_peaks
from media_bench.common.libopus import LIBOPUS, NativeOpusDecoder, NativeOpusEncoder

pytestmark = pytest.mark.skipif(LIBOPUS is None, reason="no libopus loads on this machine")


def speech(frames: int = 150) -> list[np.ndarray]:
    signal = Signal(tone_hz=None)
    return [signal.frame(k) for k in range(frames)]


def encoded(complexity: int) -> list[bytes]:
    encoder = codec.OpusEncoder(32_000, complexity)
    out = []
    for k, frame in enumerate(speech()):
        packet = encoder.encode(frame, k * FRAME_SAMPLES)
        assert packet is not None and packet.pts == k * FRAME_SAMPLES
        out.append(bytes(packet))
    return out


@pytest.mark.parametrize("complexity", [0, 5, 10])
def test_libopus_directly_encodes_the_bytes_pyav_encodes(
    complexity: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert codec.native_opus()
    direct = encoded(complexity)
    monkeypatch.setenv(codec.OPUS_BACKEND_VARIABLE, "pyav")
    assert not codec.native_opus()
    assert direct == encoded(complexity)


def test_both_decoders_hear_the_same_tone(monkeypatch: pytest.MonkeyPatch) -> None:
    tone = Signal(tone_hz=700.0, marks=False)
    payloads = [NativeOpusEncoder(32_000, 5).encode(tone.frame(k)) for k in range(50)]

    def heard() -> np.ndarray:
        decoder = codec.OpusDecoder()
        frames = [decoder.decode(payload) for payload in payloads]
        assert all(f is not None and len(f) == FRAME_SAMPLES for f in frames)
        return np.concatenate([f for f in frames if f is not None])

    direct = heard()
    monkeypatch.setenv(codec.OPUS_BACKEND_VARIABLE, "pyav")
    through_pyav = heard()
    assert abs(spectrum_peaks(direct, 1)[0] - 700.0) < 10
    assert np.array_equal(direct, through_pyav)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="960 int16 samples"):
        NativeOpusEncoder(32_000, 0).encode(np.zeros(480, dtype=np.int16))
    assert NativeOpusDecoder().decode(b"\xff\xff\xff") is None

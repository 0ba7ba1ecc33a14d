"""Timing marks through real Opus: each says when it was spoken, so latency never wraps."""

import random
from collections.abc import Collection

import numpy as np
import pytest

from media_bench.client.marks import (
    MARK_CODES,
    MARK_EVERY,
    MarkDetector,
    Signal,
    latest_mark,
    mark_at,
    mark_start,
)
from media_bench.common.audio import FRAME_SECONDS, Pcm, clip16
from media_bench.common.codec import OpusDecoder, OpusEncoder

START = 1_000_000  # a grid slot far from zero, as wall-clock slots are
ARRIVAL = FRAME_SECONDS / 2  # a mixed frame reaches the listener this long after its tick
ON_TIME = (0.0, 0.1)
"""Latencies of an undelayed stream here: the burst's first decoded frame arrives one or two
frames after the mark's slot (Opus's look-ahead pushes a mark's start into the next frame)."""


class ThroughServer:
    """Speakers' frames as the server and a listener see them: each speaker's Opus stream
    (32 kbps) decoded, the streams mixed and saturated as the mixer does, the mix encoded and
    decoded again; the listener hears mix frame k at the end of slot k plus ``ARRIVAL``."""

    def __init__(self, lags: list[int], marked: list[bool]) -> None:
        self.lags = lags
        self.signals = [Signal(marks=m) for m in marked]
        self.uplinks = [(OpusEncoder(32_000, 0), OpusDecoder()) for _ in lags]
        self.downlink = (OpusEncoder(32_000, 5), OpusDecoder())

    def frame(self, slot: int) -> Pcm:
        mix = np.zeros(960, dtype=np.int32)
        for signal, lag, (encoder, decoder) in zip(self.signals, self.lags, self.uplinks,
                                                   strict=True):
            payload = encoder.encode(signal.frame(slot - lag), 0)
            assert payload is not None
            heard = decoder.decode(bytes(payload))
            assert heard is not None
            mix += heard
        payload = self.downlink[0].encode(clip16(mix), 0)
        assert payload is not None
        out = self.downlink[1].decode(bytes(payload))
        assert out is not None
        return out


def listen(server: ThroughServer, slots: range, detector: MarkDetector,
           dropped: Collection[int] = ()) -> None:
    for slot in slots:
        pcm = server.frame(slot)
        if slot not in dropped:  # a packet that never arrives is never decoded
            detector.feed(pcm, (slot + 1) * FRAME_SECONDS + ARRIVAL)


def test_every_mark_number_is_recovered_from_its_code_and_any_latency_below_20_s() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        number = rng.randrange(10**6)
        latency = rng.uniform(0.0, MARK_CODES * MARK_EVERY * FRAME_SECONDS - 0.05)
        spoken = mark_start(number) * FRAME_SECONDS
        assert latest_mark(number % MARK_CODES, spoken + latency) == number
    assert mark_at(mark_start(7)) == (7, 0) and mark_at(mark_start(7) + 1) == (7, 1)
    assert mark_at(mark_start(7) + 2) is None


@pytest.mark.parametrize("lag", [35, 150])  # 700 ms and 3 s, in 20 ms slots
def test_a_late_speaker_reads_its_lag_beside_an_on_time_one(lag: int) -> None:
    # The late speaker's marks share the mix with an on-time speaker's marks and with speech;
    # each reads its own latency, the old 0.5 s grid would have read 200 ms and 0 ms.
    server = ThroughServer([0, lag, 0], marked=[True, True, False])
    detector = MarkDetector()
    listen(server, range(START, START + 30 * MARK_EVERY), detector)  # 15 s, 30 marks each
    late = lag * FRAME_SECONDS
    latencies = np.array(detector.latencies)
    on_time = (latencies >= ON_TIME[0]) & (latencies <= ON_TIME[1])
    delayed = (latencies >= late + ON_TIME[0]) & (latencies <= late + ON_TIME[1])
    assert (on_time | delayed).all(), f"misread marks: {latencies[~(on_time | delayed)]}"
    # Marks of the two that fall on top of each other blur: unreadable, never misread.
    assert on_time.sum() >= 21 and delayed.sum() >= 21, (on_time.sum(), delayed.sum())


def test_marks_of_speakers_on_the_same_grid_add_up_and_read_once() -> None:
    server = ThroughServer([0, 0, 0, 0], marked=[True, True, True, True])
    detector = MarkDetector()
    listen(server, range(START, START + 20 * MARK_EVERY), detector)
    assert len(detector.latencies) >= 19 and detector.unreadable == 0
    assert all(ON_TIME[0] <= v <= ON_TIME[1] for v in detector.latencies)


def test_dropped_marks_count_as_lost_and_are_never_matched_to_the_next() -> None:
    server = ThroughServer([0, 0], marked=[True, False])
    first = START // MARK_EVERY + 1
    gone = {first + 3, first + 7, first + 8, first + 12}  # mark numbers whose packets are lost
    dropped = {mark_start(n) + part for n in gone for part in range(-1, 3)}
    detector = MarkDetector()
    end = (first + 20) * MARK_EVERY
    listen(server, range(first * MARK_EVERY, end), detector, dropped)
    assert detector.lost == len(gone)
    assert len(detector.latencies) == 20 - len(gone)
    assert all(ON_TIME[0] <= v <= ON_TIME[1] for v in detector.latencies)
    # The stream stops: marks due since count as lost once overdue by more than a second.
    now = end * FRAME_SECONDS
    assert detector.lost_by(now) == len(gone)
    assert detector.lost_by(now + 5.0) - len(gone) in (7, 8, 9)  # ~4 s of marks overdue

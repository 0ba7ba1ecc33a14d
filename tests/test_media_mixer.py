"""The mixer without the network: N-1 mixes, silence for missing speakers, the clock."""

import asyncio
import time
from typing import Any

import numpy as np

from media_bench.client.marks import Signal
from media_bench.common.audio import FRAME_SAMPLES, band_ratio
from media_bench.common.codec import OpusDecoder, OpusEncoder
from media_bench.server.clock import run_ticks
from media_bench.server.mixer import RoomMixer, SpeakerInput
from media_bench.server.packet_source import PacketSource, SourceTrack
from media_bench.server.shared_fanout import SharedFanOut
from tests.test_media_fanout import link


def decode_stream(packets) -> np.ndarray:
    decoder = OpusDecoder()
    return np.concatenate([decoder.decode(bytes(p)) for p in packets])


def run_mixer(speakers: dict[str, float | None], ticks: int = 60):
    """Tick a mixer by hand; returns the listener stream and each speaker's N-1 stream."""

    async def scenario() -> dict[str, np.ndarray]:
        fanout = SharedFanOut()
        fanout.add("listener", link(SourceTrack(fanout.listener_source)))  # someone to hear it
        mixer = RoomMixer(fanout)
        mixer.set_speakers(list(speakers), list(speakers))
        encoders = {u: OpusEncoder() for u in speakers}
        heard: dict[str, list[Any]] = {u: [] for u in [*speakers, "listener"]}
        for k in range(ticks):
            for user, hz in speakers.items():
                slot = mixer.input_for(user)
                if hz is not None:  # None: a speaker whose packets never arrive
                    pcm = Signal(tone_hz=hz, marks=False).frame(k)
                    packet = encoders[user].encode(pcm, k * FRAME_SAMPLES)
                    assert packet is not None
                    slot.feed(bytes(packet))
            mixer.tick(k)
            heard["listener"].append(fanout.listener_source.item)
            for user in speakers:
                heard[user].append(fanout.source_for(user).item)
        await mixer.stop()
        return {u: decode_stream(p[10:]) for u, p in heard.items()}

    return asyncio.run(scenario())


def test_listeners_hear_everyone_and_speakers_everyone_but_themselves() -> None:
    heard = run_mixer({"a": 440.0, "b": 1000.0, "c": 1500.0})
    assert all(band_ratio(heard["listener"], hz) > 0.2 for hz in (440, 1000, 1500))
    for user, own in (("a", 440), ("b", 1000), ("c", 1500)):
        assert band_ratio(heard[user], own) < 0.01
        others = [hz for hz in (440, 1000, 1500) if hz != own]
        assert all(band_ratio(heard[user], hz) > 0.3 for hz in others)


def test_a_silent_speaker_does_not_stall_the_room() -> None:
    heard = run_mixer({"a": 440.0, "lost": None})
    assert len(heard["listener"]) == 50 * FRAME_SAMPLES
    assert band_ratio(heard["listener"], 440) > 0.9
    assert band_ratio(heard["lost"], 440) > 0.9


def test_role_change_switches_a_track_at_the_next_tick() -> None:
    async def scenario() -> tuple[Any, Any, Any]:
        fanout = SharedFanOut()
        mixer = RoomMixer(fanout)
        track = SourceTrack(fanout.listener_source)
        fanout.add("u", link(track))
        mixer.tick(0)
        first = await track.recv()
        mixer.set_speakers(["u"], ["u"])
        track.switch(fanout.source_for("u"))
        waiting = asyncio.ensure_future(track.recv())
        await asyncio.sleep(0)
        mixer.tick(1)
        second = await asyncio.wait_for(waiting, 1)
        await mixer.stop()
        return first, second, fanout.source_for("u").item

    first, second, n_minus_one = asyncio.run(scenario())
    assert first.pts == 0 and second.pts == FRAME_SAMPLES
    assert second is n_minus_one


def test_a_closed_source_ends_the_track() -> None:
    async def scenario() -> bool:
        source = PacketSource()
        track = SourceTrack(source)
        waiting = asyncio.ensure_future(track.recv())
        await asyncio.sleep(0)
        source.close()
        try:
            await asyncio.wait_for(waiting, 1)
        except Exception as error:
            return type(error).__name__ == "MediaStreamError"
        return False

    assert asyncio.run(scenario())


def test_clock_is_drift_free_and_reports_late_ticks() -> None:
    async def scenario() -> tuple[list[tuple[int, float]], list[float]]:
        starts: list[tuple[int, float]] = []
        late: list[float] = []

        def on_tick(k: int) -> None:
            starts.append((k, time.monotonic()))
            if k == 10:
                time.sleep(0.06)  # a stall of three periods

        task = asyncio.ensure_future(run_ticks(0.02, on_tick, late.append))
        await asyncio.sleep(0.6)
        task.cancel()
        return starts, late

    starts, late = asyncio.run(scenario())
    # Each tick's offset from its slot on the grid; medians shrug off a busy machine's hiccups.
    offsets = [(k, t - k * 0.02) for k, t in starts]
    before = float(np.median([o for k, o in offsets if k < 10]))
    after = float(np.median([o for k, o in offsets if k > 20]))
    # Ticks after the stall return to the original schedule instead of shifting it by 60 ms.
    assert abs(after - before) < 0.01
    assert late and max(late) > 0.02


def test_a_speaker_buffer_that_stays_two_deep_is_shrunk() -> None:
    slot = SpeakerInput()
    encoder = OpusEncoder()
    packets = [encoder.encode(Signal(tone_hz=440).frame(k), k * FRAME_SAMPLES) for k in range(80)]
    payloads = [bytes(p) for p in packets if p is not None]
    slot.feed(payloads[0])  # one frame early: the buffer now sits two deep
    taken = 0
    for payload in payloads[1:]:
        slot.feed(payload)
        taken += slot.take() is not None
    assert slot.dropped == 1 and len(slot.frames) == 0
    assert taken == len(payloads) - 1  # every frame but the one dropped

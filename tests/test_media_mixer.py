"""The mixer without the network: N-1 mixes, silence for missing speakers, the clock."""

import asyncio
import time
from typing import Any

import numpy as np
import pytest

from media_bench.client.marks import Signal
from media_bench.common.audio import FRAME_SAMPLES, band_ratio
from media_bench.common.codec import OPUS_BACKEND_VARIABLE, OpusDecoder, OpusEncoder
from media_bench.server.clock import run_ticks
from media_bench.server.mixer import (
    INPUT_DEPTH,
    QUIET_HANGOVER_TICKS,
    RoomMixer,
    SpeakerInput,
)
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


def tone_residual_db(pcm: np.ndarray, hz: float) -> np.ndarray:
    """Per 20 ms frame: the energy left after removing the best-fitting ``hz`` sine (and DC),
    relative to the frame's energy (dB). Codec noise on a clean tone reads about -33 dB here; a
    gap or click in the frame reads near 0."""
    t = np.arange(FRAME_SAMPLES) / 48_000
    out = []
    for k in range(len(pcm) // FRAME_SAMPLES):
        frame = pcm[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES].astype(np.float64)
        phase = 2 * np.pi * hz * (t + k * FRAME_SAMPLES / 48_000)
        basis = np.stack([np.sin(phase), np.cos(phase), np.ones_like(t)], axis=1)
        fit, *_ = np.linalg.lstsq(basis, frame, rcond=None)
        rest = frame - basis @ fit
        out.append(10 * np.log10((rest @ rest + 1e-9) / (frame @ frame + 1e-9)))
    return np.array(out)


def assert_reuses_while_quiet(
    reused: list[bool], encodes: int, ticks: int, first_talk: range, second_talk: range
) -> None:
    talking = set(first_talk) | set(second_talk)
    hangover = QUIET_HANGOVER_TICKS + 1
    # nothing sent: the listener packet, once the hangover has passed
    assert all(reused[k] for k in range(hangover, first_talk.start))
    assert not any(reused[k] for k in talking)  # talking: its own N-1 mix
    # digital silence, once through b's input buffer and the hangover
    quiet = range(first_talk.stop + INPUT_DEPTH + hangover, second_talk.start)
    assert all(reused[k] for k in quiet)
    skipped = sum(reused)
    # a's N-1 and the listener mix every tick, b's own on every tick it was not sent the
    # listener packet
    assert encodes == 2 * ticks + (ticks - skipped)


@pytest.mark.parametrize("backend", ["libopus", "pyav"])
def test_a_quiet_speaker_is_sent_the_listener_packet_and_rejoins_without_a_click(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """b sends nothing, then talks, then sends digital silence, then talks: while quiet it is
    sent the listener packet (its own encoder skipped; libopus only: its encoder takes over the
    listener encoder's state when it talks again), and what it hears (a's tone) has no gap or
    click at either switch. With PyAV (no state to copy) b keeps its own stream throughout."""
    if backend == "pyav":
        monkeypatch.setenv(OPUS_BACKEND_VARIABLE, "pyav")
    ticks, first_talk, second_talk = 300, range(60, 120), range(180, 240)

    async def scenario() -> tuple[list[Any], list[bool], int]:
        fanout = SharedFanOut()
        fanout.add("listener", link(SourceTrack(fanout.listener_source)))
        mixer = RoomMixer(fanout)
        mixer.set_speakers(["a", "b"], ["a", "b"])
        encoders = {u: OpusEncoder(32_000, 0) for u in "ab"}
        tone_a, tone_b = Signal(tone_hz=440.0, marks=False), Signal(tone_hz=1000.0, marks=False)
        heard: list[Any] = []
        reused: list[bool] = []

        def feed(user: str, pcm: np.ndarray, k: int) -> None:
            packet = encoders[user].encode(pcm, k * FRAME_SAMPLES)
            assert packet is not None
            mixer.input_for(user).feed(bytes(packet))

        for k in range(ticks):
            feed("a", tone_a.frame(k), k)
            talking = k in first_talk or k in second_talk
            if talking or k >= first_talk.stop:
                feed("b", tone_b.frame(k) if talking else np.zeros(FRAME_SAMPLES, np.int16), k)
            mixer.tick(k)
            heard.append(fanout.source_for("b").item)
            reused.append(fanout.source_for("b").item is fanout.listener_source.item)
        await mixer.stop()
        return heard, reused, mixer.stats.encodes

    heard, reused, encodes = asyncio.run(scenario())
    if backend == "pyav":
        assert not any(reused) and encodes == 3 * ticks
    else:
        assert_reuses_while_quiet(reused, encodes, ticks, first_talk, second_talk)
    pcm = decode_stream(heard)
    assert band_ratio(pcm, 440) > 0.9 and band_ratio(pcm, 1000) < 0.01
    residual = tone_residual_db(pcm, 440.0)[10:]
    steady = float(np.median(residual))
    print(
        f"\nb hears a's tone with {steady:.1f} dB of codec noise in a steady frame, "
        f"{residual.max():.1f} dB in the worst (at a switch of encoders)"
    )
    assert steady < -25
    assert residual.max() < -18, "a gap or click where b's own encoder took over"

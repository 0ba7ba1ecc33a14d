"""The per-room mixer: latest frame per speaker, int32 mix, N-1 per speaker, one listener mix.

Each tick (see ``clock.run_ticks``) takes one frame from every mixed speaker (silence when
none arrived, so a silent or lost speaker never stalls the room), sums in int32, encodes each
speaker's mix-minus-self into that speaker's stream and the listener mix once (or, for the
naive design, not at all), and hands both to the room's fan-out design (``fanout``), which
delivers them: the tick's time covers the mixing, the encodes and whatever delivery the
design does inside the tick (``direct`` sends every packet there; ``shared`` and ``naive``
leave it to aiortc's senders after the tick).

A speaker who is quiet this tick (below ``QUIET_DBOV``, or nothing arrived) would hear exactly
the listener mix, so it is sent the listener packet and its own encode is skipped: in a room
where one of 13 talks, that is 12 encodes saved per tick. Its encoder restarts, primed, when
it speaks again (``RoomMixer._resume``: it takes over the listener encoder's state, which is
what the speaker's decoder last heard; the switches are measured by the mixer's FFT test).
With PyAV's encoders (no state to copy) every speaker keeps its own N-1 stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from media_bench.common.audio import (
    FRAME_SAMPLES,
    FRAME_SECONDS,
    Pcm,
    clip16,
    level_dbov,
    to_frame,
)
from media_bench.common.codec import OpusDecoder, OpusEncoder
from media_bench.server.clock import run_ticks
from media_bench.server.fanout import FanOutDesign, Stream

INPUT_DEPTH = 2
"""Frames buffered per speaker: absorbs arrival jitter against the tick, bounds latency."""
SHRINK_AFTER = 50
"""A speaker whose buffer never ran below two frames for this many ticks (1 s) is 20 ms
later than it needs to be: one frame is dropped to take the delay back out."""
LEVEL_TICKS = 10
"""Audio levels are reported every this many ticks (200 ms)."""
SPEAKER_TIMEOUT = 3.0
"""Seconds without a packet after which a mixed speaker that had been sending counts as gone
(its process vanished without leaving: before ``Settings.consent_timeout`` expires it)."""
_TIMEOUT_TICKS = round(SPEAKER_TIMEOUT / FRAME_SECONDS)
QUIET_DBOV = -60.0
"""A speaker whose frame this tick is quieter than this (or who sent none) is sent the
listener packet instead of an N-1 mix of its own: all it misses is itself below -60 dBov,
under everyone else. Its encoder is then skipped until it speaks again."""
QUIET_HANGOVER_TICKS = 3
"""Ticks a speaker stays on its own encoder after it went quiet, before it is sent the
listener packet: both encoders then code the same audio for a while and their states converge.
Measured by the mixer's FFT test (CELT, 32 kbps): switching at once reads -11 dB of residual
under the tone (a click); after 2 or more ticks, -24 dB (steady frames: -46 dB)."""


@dataclass
class SpeakerInput:
    """Decoded-on-arrival audio of one publishing participant."""

    decoder: OpusDecoder = field(default_factory=OpusDecoder)
    frames: deque[Pcm] = field(default_factory=lambda: deque(maxlen=INPUT_DEPTH))
    received: int = 0
    undecodable: int = 0
    dropped: int = 0
    heard: bool = False
    """A packet arrived since it was last put in the mix (arms the receive timeout)."""
    quiet_ticks: int = 0
    """Ticks since the last packet."""
    _deep_ticks: int = 0

    def feed(self, payload: bytes) -> None:
        self.received += 1
        pcm = self.decoder.decode(payload)
        if pcm is None:
            self.undecodable += 1
            return
        self.frames.append(pcm)

    def take(self) -> Pcm | None:
        """The oldest buffered frame, or None (the mixer uses silence)."""
        if len(self.frames) >= INPUT_DEPTH:
            self._deep_ticks += 1
            if self._deep_ticks >= SHRINK_AFTER:
                self.frames.popleft()
                self.dropped += 1
                self._deep_ticks = 0
        else:
            self._deep_ticks = 0
        return self.frames.popleft() if self.frames else None


@dataclass
class SpeakerOutput:
    """One speaker's N-1 stream: its own encoder, and the stream its design delivers."""

    encoder: OpusEncoder
    stream: Stream
    in_step: bool = True
    quiet_ticks: int = 0
    """Ticks in a row its own frame was quiet (or missing)."""
    """Its encoder encoded the previous tick (else it starts afresh)."""


@dataclass
class TickStats:
    ticks: int = 0
    late: int = 0
    received: int = 0
    encodes: int = 0
    """Opus encodes of mixes (listener and N-1): an idle room makes none."""


class RoomMixer:
    """Mixes one room on a 20 ms clock; ``set_speakers`` applies role changes at the next tick.

    The mixes go to ``fanout``, which the mixer uses but does not own (nor stop).
    """

    def __init__(
        self,
        fanout: FanOutDesign,
        bitrate: int = 32_000,
        complexity: int = 5,
        speaker_complexity: int = 0,
        on_levels: Callable[[dict[str, float]], None] | None = None,
    ) -> None:
        self.fanout = fanout
        self.bitrate = bitrate
        self.complexity = complexity
        self.speaker_complexity = speaker_complexity
        self.on_levels = on_levels
        self._listener_encoder = OpusEncoder(bitrate, complexity)
        self._reuse_listener_packet = (
            fanout.encoded_listener_mix and self._listener_encoder.state_copyable
        )
        """Quiet speakers are sent the listener packet (see ``_resume`` for why only where
        encoder state can be copied)."""
        self.inputs: dict[str, SpeakerInput] = {}
        self.outputs: dict[str, SpeakerOutput] = {}
        self.mixed: set[str] = set()
        self.stats = TickStats()
        self._levels: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self.on_late: Callable[[float], None] | None = None
        self.on_duration: Callable[[float], None] | None = None
        self.on_gone: Callable[[str], None] | None = None
        """Called once for a mixed speaker silent for ``SPEAKER_TIMEOUT`` after sending."""

    # -- membership ------------------------------------------------------------------------
    def input_for(self, user_id: str) -> SpeakerInput:
        """The inbound audio slot of a participant (created on first use)."""
        slot = self.inputs.get(user_id)
        if slot is None:
            slot = self.inputs[user_id] = SpeakerInput()
        return slot

    def set_speakers(self, speakers: list[str], mixed: list[str]) -> None:
        """Who speaks (gets an N-1 stream) and whose audio is mixed, from the next tick on."""
        for user_id in list(self.outputs):
            if user_id not in speakers:
                del self.outputs[user_id]
                self.fanout.close_speaker_stream(user_id)
        for user_id in speakers:
            if user_id not in self.outputs:
                self.outputs[user_id] = SpeakerOutput(
                    OpusEncoder(self.bitrate, self.speaker_complexity),
                    self.fanout.open_speaker_stream(user_id),
                )
        for user_id in set(mixed) - self.mixed:
            slot = self.inputs.get(user_id)
            if slot is not None:  # timed from its first packet in the mix (a mic may be slow)
                slot.heard, slot.quiet_ticks = False, 0
        self.mixed = set(mixed)

    def forget(self, user_id: str) -> None:
        """Drop a participant's inbound audio (it left or was removed)."""
        self.inputs.pop(user_id, None)
        self.mixed.discard(user_id)

    # -- mixing ----------------------------------------------------------------------------
    def tick(self, index: int) -> None:
        """Mix and publish one 20 ms frame for tick ``index``."""
        pts = index * FRAME_SAMPLES
        total = np.zeros(FRAME_SAMPLES, dtype=np.int32)
        own: dict[str, Pcm] = {}
        for user_id, slot in self.inputs.items():
            frame = slot.take()
            if frame is None or user_id not in self.mixed:
                continue
            own[user_id] = frame
            total += frame
        levels = {user_id: level_dbov(frame) for user_id, frame in own.items()}
        reuse = self._reuse_listener_packet
        hear_listener_mix: list[SpeakerOutput] = []
        encodes = 0
        # The speakers' streams first: a design that sends as it is handed a packet (direct)
        # then never keeps a speaker waiting behind the listeners.
        for user_id, output in self.outputs.items():
            frame = own.get(user_id)
            quiet = frame is None or levels[user_id] < QUIET_DBOV
            output.quiet_ticks = output.quiet_ticks + 1 if quiet else 0
            if reuse and output.quiet_ticks > QUIET_HANGOVER_TICKS:
                hear_listener_mix.append(output)
                output.in_step = False
                continue
            if not output.in_step:
                self._resume(output)
            minus = total if frame is None else total - frame
            packet = output.encoder.encode(clip16(minus), pts)
            encodes += 1
            if packet is not None:
                output.stream.publish(index, packet)
        has_listeners = self.fanout.has_listeners()
        if not self.fanout.encoded_listener_mix:
            if has_listeners:
                self.fanout.deliver(index, to_frame(clip16(total), pts))
        elif has_listeners or hear_listener_mix:
            packet = self._listener_encoder.encode(clip16(total), pts)
            encodes += 1
            if packet is not None:
                for output in hear_listener_mix:
                    output.stream.publish(index, packet)
                if has_listeners:
                    self.fanout.deliver(index, packet)
        self.stats.encodes += encodes
        self._track_levels(index, levels)
        self._count()

    def _resume(self, output: SpeakerOutput) -> None:
        """Bring a speaker's encoder back in step after ticks it skipped: the speaker's decoder
        was last fed the listener encoder's packet (the previous tick's mix), so its encoder
        takes over the listener encoder's state and the decoder goes on as if one stream had
        never switched. (A reset encoder would be heard: its first packet starts with 6.5 ms of
        look-ahead silence; one primed with the previous mix still clicks, -15 dB, in CELT.)"""
        output.encoder.continue_from(self._listener_encoder)
        output.in_step = True

    def _track_levels(self, index: int, levels: dict[str, float]) -> None:
        for user_id, level in levels.items():
            self._levels[user_id] = max(self._levels.get(user_id, -127.0), level)
        if index % LEVEL_TICKS == 0:
            levels = {u: round(self._levels.get(u, -127.0), 1) for u in sorted(self.mixed)}
            self._levels.clear()
            if self.on_levels is not None:
                self.on_levels(levels)

    def _count(self) -> None:
        self.stats.ticks += 1
        received = 0
        for user_id, slot in self.inputs.items():
            if slot.received:
                received += slot.received
                slot.received, slot.quiet_ticks, slot.heard = 0, 0, True
            else:
                slot.quiet_ticks += 1
                gone = slot.heard and slot.quiet_ticks == _TIMEOUT_TICKS and user_id in self.mixed
                if gone and self.on_gone is not None:
                    self.on_gone(user_id)
        self.stats.received += received

    # -- clock -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(
                run_ticks(FRAME_SECONDS, self.tick, self._late, self._duration)
            )

    def _duration(self, seconds: float) -> None:
        if self.on_duration is not None:
            self.on_duration(seconds)

    def _late(self, behind: float) -> None:
        self.stats.late += 1
        if self.on_late is not None:
            self.on_late(behind)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

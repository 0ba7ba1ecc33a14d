"""Client bots: a speaker that publishes speech with timing marks, and a measuring listener.

Importing this module starts nothing; bots run on whatever asyncio loop calls them, so a
load test can drive them from its own loop thread.

Receive paths (``ProbeMode``):

- ``count``: count packets at the socket, with loss and jitter from their RTP headers, which
  SRTP leaves in clear; STUN and DTLS still go to aiortc, media never reaches its receive path
  (no SRTP unprotect, no parsing, no queue). The cheapest listener: a load generator holds
  as many of them per core as a server core serves.
- ``arrival``: also decode each packet on arrival (as the server does) and time the marks:
  mouth-to-arrival latency.
- ``full``: also let aiortc's receive path (jitter buffer, decoder thread) run and time the
  marks in what ``track.recv()`` returns: mouth-to-ear latency as a person would hear it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from media_bench.audio import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, Pcm, to_mono
from media_bench.client import ApiClient
from media_bench.codec import OpusDecoder, OpusEncoder
from media_bench.marks import MarkDetector, Signal, grid_index

ProbeMode = Literal["count", "arrival", "full"]
_RTP_HEADER = struct.Struct("!HI")
RESYNC_FRAMES = 5


class VoiceTrack(MediaStreamTrack):
    """Publishes ``Signal`` frames, pre-encoded (mono Opus), on the shared 20 ms wall grid.

    Frame k goes out at the wall-clock instant of its grid slot, which is when its marks
    count as spoken; pacing from the grid keeps the stream drift-free.
    """

    kind = "audio"

    def __init__(self, signal: Signal, bitrate: int = 32_000) -> None:
        super().__init__()
        self.signal = signal
        self._encoder = OpusEncoder(bitrate, complexity=0)
        self._slot: int | None = None
        self._first = 0
        self.sent = 0

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if self._slot is None:
            self._slot = self._first = grid_index(time.time()) + 1
        else:
            self._slot += 1
        delay = self._slot * FRAME_SECONDS - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -RESYNC_FRAMES * FRAME_SECONDS:
            self._slot = grid_index(time.time())
        slot = self._slot
        packet = self._encoder.encode(self.signal.frame(slot), (slot - self._first) * FRAME_SAMPLES)
        assert packet is not None
        self.sent += 1
        return packet


@dataclass
class AudioProbe:
    """Receive-side measurements of one inbound audio stream."""

    mode: ProbeMode = "arrival"
    record: bool = False
    packets: int = 0
    first_arrival: float | None = None
    """``time.monotonic()`` of the first packet."""
    jitter: float = 0.0
    """RFC 3550 interarrival jitter, seconds."""
    arrival_marks: MarkDetector = field(default_factory=MarkDetector)
    played_marks: MarkDetector = field(default_factory=MarkDetector)
    recording: list[Pcm] = field(default_factory=list)
    _base_seq: int | None = None
    _highest: int = -1
    _cycles: int = 0
    _last_seq: int = 0
    _transit: float | None = None
    _decoder: OpusDecoder | None = None
    _got_first: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def attach(self, receiver: RTCRtpReceiver, track: MediaStreamTrack) -> None:
        """Take over (``count``, ``arrival``) or tap (``full``) a receiver's RTP handling."""
        original = receiver._handle_rtp_packet
        if self.mode != "count":
            self._decoder = OpusDecoder()

        async def on_rtp(packet: RtpPacket, arrival_time_ms: int = 0) -> None:
            self.on_packet(packet)
            if self.mode == "full":
                await original(packet, arrival_time_ms=arrival_time_ms)

        receiver._handle_rtp_packet = on_rtp  # type: ignore[method-assign]
        if self.mode == "count":
            # Skip aiortc's RTP parsing and routing too: read sequence and timestamp only.
            async def on_data(data: bytes, arrival_time_ms: int = 0) -> None:
                if len(data) >= 12:
                    sequence, timestamp = _RTP_HEADER.unpack_from(data, 2)
                    self.on_header(sequence, timestamp)

            receiver.transport._handle_rtp_data = on_data  # type: ignore[method-assign]
            self._count_at_socket(receiver)
        if self.mode == "full":
            self._task = asyncio.ensure_future(self._play(track))

    def _count_at_socket(self, receiver: RTCRtpReceiver) -> None:
        """Count media datagrams where the socket hands them to ICE (RFC 5761/7983 demux)."""
        connection = receiver.transport.transport._connection
        for protocol in connection._protocols:
            original = protocol.datagram_received

            def on_datagram(data: bytes | str, addr: tuple[Any, ...],
                            original: Any = original) -> None:
                if (isinstance(data, bytes) and len(data) >= 12 and 128 <= data[0] <= 191
                        and not 192 <= data[1] <= 223):  # RTP, not RTCP
                    sequence, timestamp = _RTP_HEADER.unpack_from(data, 2)
                    self.on_header(sequence, timestamp)
                    return
                original(data, addr)

            protocol.datagram_received = on_datagram  # type: ignore[method-assign]

    def on_packet(self, packet: RtpPacket) -> None:
        self.on_header(packet.sequence_number, packet.timestamp)
        if self._decoder is not None:
            pcm = self._decoder.decode(packet.payload)
            if pcm is not None:
                self.arrival_marks.feed(pcm, time.time())
                if self.record:
                    self.recording.append(pcm)

    def on_header(self, sequence: int, timestamp: int) -> None:
        """Count one packet: first arrival, sequence (loss) and timestamp (jitter)."""
        now = time.monotonic()
        self.packets += 1
        if self.first_arrival is None:
            self.first_arrival = now
            self._got_first.set()
        self._track_sequence(sequence)
        transit = now - timestamp / SAMPLE_RATE
        if self._transit is not None:
            self.jitter += (abs(transit - self._transit) - self.jitter) / 16
        self._transit = transit

    def _track_sequence(self, seq: int) -> None:
        if self._base_seq is None:
            self._base_seq = seq
            self._highest = seq
            self._last_seq = seq
            return
        if seq < self._last_seq and self._last_seq - seq > 30000:
            self._cycles += 1 << 16
        self._last_seq = seq
        self._highest = max(self._highest, self._cycles + seq)

    @property
    def expected(self) -> int:
        return 0 if self._base_seq is None else self._highest - self._base_seq + 1

    def counters(self) -> tuple[int, int]:
        """(packets received, packets expected) so far, for windowed loss."""
        return self.packets, self.expected

    async def _play(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                if isinstance(frame, av.AudioFrame):
                    self.played_marks.feed(to_mono(frame), time.time())

    async def first_audio(self, timeout: float) -> None:
        await asyncio.wait_for(self._got_first.wait(), timeout)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class Bot:
    """One participant: joins a room over the API with a real aiortc peer connection.

    Nothing touches a loop until ``join``, which must run on the loop the bot then lives on.
    """

    def __init__(
        self,
        api: ApiClient,
        token: str,
        room_id: str,
        signal: Signal | None = None,
        probe: ProbeMode = "arrival",
        record: bool = False,
    ) -> None:
        self.api = api
        self.token = token
        self.room_id = room_id
        self.pc: RTCPeerConnection | None = None
        self.probe = AudioProbe(mode=probe, record=record)
        self.voice = VoiceTrack(signal) if signal is not None else None
        self.role: str | None = None
        self.join_started: float | None = None

    async def join(self) -> str:
        """Offer, get the answer, connect; returns the role the server gave."""
        self.join_started = time.monotonic()
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        if self.voice is not None:
            pc.addTrack(self.voice)
        else:
            pc.addTransceiver("audio", direction="recvonly")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            for transceiver in pc.getTransceivers():
                if transceiver.receiver.track is track:
                    self.probe.attach(transceiver.receiver, track)

        await pc.setLocalDescription(await pc.createOffer())
        answer = await self.api.join(self.token, self.room_id, pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        self.role = str(answer["role"])
        return self.role

    async def wait_audio(self, timeout: float = 10.0) -> float:
        """Wait for the first audio packet; returns the join time (offer to first audio)."""
        await self.probe.first_audio(timeout)
        return self.join_seconds or math.nan

    @property
    def join_seconds(self) -> float | None:
        if self.join_started is None or self.probe.first_arrival is None:
            return None
        return self.probe.first_arrival - self.join_started

    async def close(self) -> None:
        self.probe.stop()
        if self.voice is not None:
            self.voice.stop()
        if self.pc is not None:
            await self.pc.close()


class SpeakerBot(Bot):
    """Publishes speech (or a tone) with timing marks and measures the N-1 mix it hears."""

    def __init__(
        self,
        api: ApiClient,
        token: str,
        room_id: str,
        signal: Signal | None = None,
        probe: ProbeMode = "arrival",
        record: bool = False,
    ) -> None:
        super().__init__(api, token, room_id, signal or Signal(), probe, record)


class ListenerBot(Bot):
    """Receives the room mix and measures join time, loss, jitter and mark latency."""

    def __init__(
        self,
        api: ApiClient,
        token: str,
        room_id: str,
        probe: ProbeMode = "arrival",
        record: bool = False,
    ) -> None:
        super().__init__(api, token, room_id, None, probe, record)

"""Client bots: a speaker that publishes speech with timing marks, and a measuring listener.

Importing this module starts nothing; bots run on whatever asyncio loop calls them, so a
load test can drive them from its own loop thread.

Receive paths (``ProbeMode``):

- ``count``: count packets at the socket, with loss and jitter from their RTP headers, which
  SRTP leaves in clear; STUN (consent) and DTLS still go to aioice and aiortc, media and the
  server's RTCP never reach aiortc (no SRTP unprotect, no parsing, no queue). Where the native
  counter is built (``native_count``), a loop's counting sockets are read and counted in C
  every 40 ms (10 ms while a stream starts), a batch of datagrams per system call, each packet
  at its kernel arrival stamp; otherwise they join the loop's Python poller below. The
  cheapest listener: 2026-12-03, 400 listeners in one room: 9.7 us of load generator CPU per
  packet natively (one recvmsg a packet, every 10 ms) against 21.8 us on the Python path (the
  server 23-25 us, its tick and speakers included); in the evening, three runs each, old and
  new alternating: 10.0 / 9.6 / 8.5 us with one recvmsg a packet, 8.2 / 6.6 / 8.7 us with
  recvmmsg every 40 ms (system time 0.06-0.07 -> 0.03-0.04 cores). The rest is each peer's own
  timers (RTCP reports, ICE consent).
- ``arrival``: also unprotect and decode each packet at the socket (as the server decodes)
  and time the marks: mouth-to-arrival latency.
- ``full``: also let aiortc's receive path (jitter buffer, decoder thread) run and time the
  marks in what ``track.recv()`` returns: mouth-to-ear latency as a person would hear it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import select
import struct
import sys
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import av
import pylibsrtp
from aiortc import RTCConfiguration, RTCDtlsTransport, RTCPeerConnection, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from media_bench.client.api import ApiClient
from media_bench.client.impairment import (
    ImpairmentStage,
    PeerImpairment,
    impair_receives,
    impair_sends,
)
from media_bench.client.marks import MarkDetector, Signal, grid_index
from media_bench.client.native_count import NativeReader, native_reader
from media_bench.client.signalling import ApiSignalling, Signalling
from media_bench.client.stream_counter import Counter, StreamCounter
from media_bench.common.aiortc_internals import (
    before_connection_lost,
    ice_protocols,
    inbound_srtp,
    limit_datagram_reads,
    pause_transport_reading,
    replace_rtp_handler,
    udp_socket,
)
from media_bench.common.audio import (
    FRAME_SAMPLES,
    FRAME_SECONDS,
    TIME_BASE,
    Pcm,
    to_mono,
)
from media_bench.common.codec import OpusDecoder, OpusEncoder

if TYPE_CHECKING:
    from media_bench.client._fastcount import Counter as NativeCounter

ProbeMode = Literal["count", "arrival", "full"]
_RTP_HEADER = struct.Struct("!HI")
_MAX_DATAGRAM = 65535
RESYNC_FRAMES = 5
VOICE_BITRATE = 32_000


class SharedVoice:
    """One Opus stream of a ``Signal`` per process, by grid slot, for every speaker bot that
    publishes it: each frame is encoded once, however many bots send it."""

    KEEP_SLOTS = 4 * RESYNC_FRAMES

    def __init__(self, signal: Signal, bitrate: int) -> None:
        self.signal = signal
        self._encoder = OpusEncoder(bitrate, complexity=0)
        self._payloads: dict[int, bytes] = {}
        self._first: int | None = None

    def payload(self, slot: int) -> bytes:
        found = self._payloads.get(slot)
        if found is None:
            if self._first is None:
                self._first = slot
            packet = self._encoder.encode(
                self.signal.frame(slot), (slot - self._first) * FRAME_SAMPLES
            )
            assert packet is not None
            found = self._payloads[slot] = bytes(packet)
            for old in [s for s in self._payloads if s <= slot - self.KEEP_SLOTS]:
                del self._payloads[old]
        return found


_voices: dict[tuple[float | None, float, bool, int, float], SharedVoice] = {}


def shared_voice(signal: Signal, bitrate: int, lag: float = 0.0) -> SharedVoice:
    """The process's stream of ``signal``; streams sent ``lag`` seconds late have their own
    (an encoder follows one stream's slots in order)."""
    key = (signal.tone_hz, signal.amplitude, signal.marks, bitrate, lag)
    if key not in _voices:
        _voices[key] = SharedVoice(signal, bitrate)
    return _voices[key]


class VoiceTrack(MediaStreamTrack):
    """Publishes ``Signal`` frames, pre-encoded (mono Opus), on the shared 20 ms wall grid.

    Frame k goes out at the wall-clock instant of its grid slot, which is when its marks
    count as spoken; pacing from the grid keeps the stream drift-free. Tracks of the same
    signal share its encoding (``SharedVoice``). With a ``lag``, frame k goes out ``lag``
    seconds after its slot: a stream delayed on its way, as the far end measures it.
    """

    kind = "audio"

    def __init__(self, signal: Signal, bitrate: int = VOICE_BITRATE, lag: float = 0.0) -> None:
        super().__init__()
        self.signal = signal
        self.lag = lag
        self._voice = shared_voice(signal, bitrate, lag)
        self._slot: int | None = None
        self._first = 0
        self.sent = 0

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if self._slot is None:
            self._slot = self._first = grid_index(time.time() - self.lag) + 1
        else:
            self._slot += 1
        delay = self._slot * FRAME_SECONDS + self.lag - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -RESYNC_FRAMES * FRAME_SECONDS:
            self._slot = grid_index(time.time() - self.lag)
        slot = self._slot
        packet = av.Packet(self._voice.payload(slot))
        packet.pts = (slot - self._first) * FRAME_SAMPLES
        packet.time_base = TIME_BASE
        self.sent += 1
        return packet


class _SocketPoller:
    """The sockets of the arrival-timing bots on one loop (and of the counting bots without
    the native counter, or behind a downlink impairment), in an epoll set of their own that
    the loop watches as one descriptor: each wake-up reads every ready socket in one
    callback, without a handle per datagram."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        monkey = sys.modules.get("gevent.monkey")  # gevent's patching removes select.epoll
        epoll = select.epoll if monkey is None else monkey.get_original("select", "epoll")
        self._epoll: select.epoll = epoll()
        self._readers: dict[int, Callable[[], None]] = {}
        loop.add_reader(self._epoll.fileno(), self._ready)

    def add(self, fd: int, reader: Callable[[], None]) -> None:
        self._readers[fd] = reader
        try:
            self._epoll.register(fd, select.EPOLLIN)
        except FileExistsError:  # a closed socket's descriptor, reused
            self._epoll.modify(fd, select.EPOLLIN)

    def remove(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            with contextlib.suppress(OSError):
                self._epoll.unregister(fd)

    def _ready(self) -> None:
        readers = self._readers
        for fd, _ in self._epoll.poll(0, len(readers) or 1):
            reader = readers.get(fd)
            if reader is not None:
                reader()


_pollers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SocketPoller] = (
    weakref.WeakKeyDictionary()
)


def _poller() -> _SocketPoller:
    loop = asyncio.get_running_loop()
    if loop not in _pollers:
        _pollers[loop] = _SocketPoller(loop)
    return _pollers[loop]


@dataclass
class AudioProbe:
    """Receive-side measurements of one inbound audio stream."""

    mode: ProbeMode = "arrival"
    record: bool = False
    counter: Counter = field(default_factory=StreamCounter)
    """What the stream's headers say (``stream_counter``); a counting probe's becomes the
    native one when it reads its sockets natively (``native_count``)."""
    arrival_marks: MarkDetector = field(default_factory=MarkDetector)
    played_marks: MarkDetector = field(default_factory=MarkDetector)
    recording: list[Pcm] = field(default_factory=list)
    _decoder: OpusDecoder | None = None
    _got_first: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    @property
    def packets(self) -> int:
        return self.counter.packets

    @property
    def first_arrival(self) -> float | None:
        """``time.monotonic()`` of the first packet."""
        return self.counter.first_arrival

    @property
    def jitter(self) -> float:
        """RFC 3550 interarrival jitter, seconds."""
        return self.counter.jitter

    @property
    def transit(self) -> float:
        """The newest packet's arrival minus its RTP timestamp, seconds, relative to the
        first packet's (relative one-way delay)."""
        return self.counter.transit

    @property
    def bursts(self) -> list[int]:
        """Lengths of the finished runs of frames the playout buffer concealed, oldest first."""
        return self.counter.bursts

    def take_relative_delays(self) -> list[float]:
        """Relative-delay samples (``StreamCounter.relative_delays``) since the last take."""
        return self.counter.take_relative_delays()

    def attach(self, receiver: RTCRtpReceiver, track: MediaStreamTrack,
               downlink: ImpairmentStage | None = None) -> None:
        """Take over (``count``, ``arrival``) or tap (``full``) a receiver's RTP handling;
        every datagram the peer receives from now on passes ``downlink`` first."""
        self._decoder = None if self.mode == "count" else OpusDecoder()
        dtls = receiver.transport
        reader = native_reader() if self.mode == "count" and downlink is None else None
        native = reader.new_counter() if reader is not None else None
        if native is not None:
            self.counter = native
        for protocol in ice_protocols(dtls):
            if protocol.transport is None:
                continue
            if self.mode == "full":
                # asyncio reads datagrams into 256 KiB buffers: an allocation per packet
                limit_datagram_reads(protocol, _MAX_DATAGRAM)
                if downlink is not None:
                    impair_receives(protocol, downlink)
            elif reader is not None and native is not None:
                self._read_natively(protocol, reader, native)
            else:
                self._read_socket(protocol, dtls, downlink)
        if self.mode != "full":
            return
        original: Callable[..., Awaitable[None]]

        async def on_rtp(packet: RtpPacket, arrival_time_ms: int = 0) -> None:
            self.on_packet(packet)
            await original(packet, arrival_time_ms=arrival_time_ms)

        original = replace_rtp_handler(receiver, on_rtp)
        self._task = asyncio.ensure_future(self._play(track))

    def _read_natively(self, protocol: Any, reader: NativeReader, counter: NativeCounter
                       ) -> None:
        """Count one of the peer's UDP sockets in C (``native_count``): the same demux and
        counts as ``_read_socket``'s counting path, without a Python call per packet."""
        fd = udp_socket(protocol).fileno()
        pause_transport_reading(protocol)
        reader.add(fd, counter, protocol.datagram_received, protocol.error_received,
                   self._got_first.set)
        before_connection_lost(protocol, lambda: reader.remove(fd))

    def _read_socket(
        self, protocol: Any, dtls: RTCDtlsTransport, downlink: ImpairmentStage | None
    ) -> None:
        """Read one of the peer's UDP sockets from the loop's poller instead of its transport.

        Each datagram passes ``downlink`` first when there is one. RTP is then handled on the
        spot (RFC 5761/7983 demux); a counting listener also drops the server's RTCP sender
        reports, which it has no use for. STUN (consent) and DTLS still go to aioice and
        aiortc.
        """
        sock = udp_socket(protocol)
        recvfrom = sock.recvfrom
        deliver, failed = protocol.datagram_received, protocol.error_received
        header = _RTP_HEADER.unpack_from
        counting = self.mode == "count"
        unprotect: Callable[[bytes], bytes] | None = None
        """The SRTP session's, once the DTLS handshake has made it."""

        def read() -> None:
            try:
                data, addr = recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                failed(error)
                return
            if downlink is None:
                handle(data, addr)
            else:
                downlink(data, addr, handle)

        def handle(data: bytes, addr: Any) -> None:
            nonlocal unprotect
            if len(data) >= 12 and 127 < data[0] < 192:
                if not 191 < data[1] < 224:
                    if counting:
                        self.on_header(*header(data, 2))
                        return
                    if unprotect is None:
                        session = inbound_srtp(dtls)
                        if session is None:
                            return
                        unprotect = session.unprotect
                    self._on_srtp(unprotect, data)
                    return
                if counting:
                    return
            deliver(data, addr)

        fd = sock.fileno()
        poller = _poller()
        pause_transport_reading(protocol)
        poller.add(fd, read)
        before_connection_lost(protocol, lambda: poller.remove(fd))

    def _on_srtp(self, unprotect: Callable[[bytes], bytes], data: bytes) -> None:
        try:
            plain = unprotect(data)
        except pylibsrtp.Error:
            return
        sequence, timestamp = _RTP_HEADER.unpack_from(plain, 2)
        self.on_header(sequence, timestamp)
        start = 12 + 4 * (plain[0] & 0x0F)
        if plain[0] & 0x10 and len(plain) >= start + 4:
            start += 4 + 4 * int.from_bytes(plain[start + 2 : start + 4], "big")
        end = len(plain) - plain[-1] if plain[0] & 0x20 else len(plain)
        if start < end:
            self._decode(plain[start:end])

    def on_packet(self, packet: RtpPacket) -> None:
        self.on_header(packet.sequence_number, packet.timestamp)
        self._decode(packet.payload)

    def _decode(self, payload: bytes) -> None:
        if self._decoder is not None:
            pcm = self._decoder.decode(payload)
            if pcm is not None:
                self.arrival_marks.feed(pcm, time.time())
                if self.record:
                    self.recording.append(pcm)

    def on_header(self, sequence: int, timestamp: int) -> None:
        """Count one packet, arrived now (``StreamCounter.on_header``)."""
        if self.counter.on_header(sequence, timestamp, time.monotonic()):
            self._got_first.set()

    @property
    def expected(self) -> int:
        return self.counter.expected

    def counters(self) -> tuple[int, int]:
        """(packets received, packets expected) so far, for windowed loss."""
        return self.counter.counters()

    def playout_counters(self) -> tuple[int, int]:
        """(packets played, packets decided) so far, for windowed loss after the playout
        buffer (``quality.Playout``); decides what has settled first."""
        return self.counter.playout_counters()

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


class Peer:
    """One participant's real aiortc peer connection: what it publishes (``signal``), what
    it measures (``probe``), negotiated with the server by ``signalling``.

    Nothing touches a loop until ``join``, which must run on the loop the peer then lives on.
    """

    def __init__(
        self,
        signalling: Signalling,
        signal: Signal | None = None,
        probe: ProbeMode = "arrival",
        record: bool = False,
        lag: float = 0.0,
        impairment: PeerImpairment | None = None,
    ) -> None:
        self.signalling = signalling
        self.pc: RTCPeerConnection | None = None
        self.probe = AudioProbe(mode=probe, record=record)
        self.voice = VoiceTrack(signal, lag=lag) if signal is not None else None
        self.role: str | None = None
        self.join_started: float | None = None
        self.impairment = impairment
        self.uplink: ImpairmentStage | None = None
        self.downlink: ImpairmentStage | None = None
        """The stages this peer's datagrams pass (``impairment``), from ``join`` on."""

    async def join(self) -> str:
        """Negotiate and connect; returns the role the server gave."""
        self.join_started = time.monotonic()
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        if self.voice is not None:
            pc.addTrack(self.voice)
        if self.impairment is not None:
            self.uplink = self.impairment.uplink_stage()
            self.downlink = self.impairment.downlink_stage()
        uplink = self.uplink
        if uplink is not None:

            @pc.on("icegatheringstatechange")
            def impair_uplink() -> None:  # the sockets exist once candidates are gathered
                if pc.iceGatheringState == "complete":
                    sender = pc.getTransceivers()[0].sender
                    impair_sends(ice_protocols(sender.transport), uplink)

        tracks: list[MediaStreamTrack] = []
        pc.on("track", tracks.append)
        self.role = await self.signalling.connect(pc)
        # probes attach once the local description exists (its ICE sockets with it): the
        # track event comes earlier when the server is the one that offers
        for track in tracks:
            for transceiver in pc.getTransceivers():
                if transceiver.receiver.track is track:
                    self.probe.attach(transceiver.receiver, track, self.downlink)
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
        await self.signalling.hang_up()


class Bot(Peer):
    """A participant of this server's rooms: joins over the API (``ApiSignalling``)."""

    def __init__(
        self,
        api: ApiClient,
        token: str,
        room_id: str,
        signal: Signal | None = None,
        probe: ProbeMode = "arrival",
        record: bool = False,
        lag: float = 0.0,
        impairment: PeerImpairment | None = None,
    ) -> None:
        super().__init__(ApiSignalling(api, token, room_id), signal, probe, record, lag,
                         impairment)
        self.api = api
        self.token = token
        self.room_id = room_id


class SpeakerBot(Bot):
    """Publishes speech (or a tone) with timing marks and measures the N-1 mix it hears;
    ``lag`` sends every frame that many seconds late."""

    def __init__(
        self,
        api: ApiClient,
        token: str,
        room_id: str,
        signal: Signal | None = None,
        probe: ProbeMode = "arrival",
        record: bool = False,
        lag: float = 0.0,
        impairment: PeerImpairment | None = None,
    ) -> None:
        super().__init__(api, token, room_id, signal or Signal(), probe, record, lag,
                         impairment)


class ListenerBot(Bot):
    """Receives the room mix and measures join time, loss, jitter and mark latency."""

    def __init__(
        self,
        api: ApiClient,
        token: str,
        room_id: str,
        probe: ProbeMode = "arrival",
        record: bool = False,
        impairment: PeerImpairment | None = None,
    ) -> None:
        super().__init__(api, token, room_id, None, probe, record, impairment=impairment)

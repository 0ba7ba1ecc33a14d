"""The media side of one room: a peer connection per participant, wired to the room's mixer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RtpPacket

from media_bench.common.aiortc_internals import replace_rtp_handler
from media_bench.server.fanout import PeerLink
from media_bench.server.fanout_designs import fanout_design
from media_bench.server.mixer import RoomMixer, SpeakerInput
from media_bench.server.rooms import Room
from media_bench.server.settings import Settings
from spaces_core.errors import Refused

log = logging.getLogger(__name__)

DropReason = Literal["connection_failed", "closed", "receive_timeout"]
"""Why the server dropped a participant (the ``reason`` label of the drops metric)."""


class SdpError(Refused):
    """The offer is not a usable audio offer: refused with 400."""

    def __init__(self, problem: str) -> None:
        super().__init__(400, f"malformed SDP: {problem}")


@dataclass
class Peer:
    user_id: str
    pc: RTCPeerConnection
    track: MediaStreamTrack


@dataclass
class Pending:
    """An answered offer not yet attached to the room."""

    user_id: str
    pc: RTCPeerConnection
    track: MediaStreamTrack
    slot: SpeakerInput
    answer: str
    sender: RTCRtpSender


def opus_only() -> list[Any]:
    capabilities = RTCRtpSender.getCapabilities("audio")
    return [c for c in capabilities.codecs if c.mimeType.lower() == "audio/opus"]


def check_offer(sdp: str) -> None:
    """Cheap structural checks before aiortc sees the offer."""
    lines = sdp.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "v=0":
        raise SdpError("sdp must start with v=0")
    if not any(line.startswith("m=audio ") for line in lines):
        raise SdpError("sdp offers no audio")
    if not any("opus/48000" in line.lower() for line in lines):
        raise SdpError("sdp offers no Opus")
    for attribute in ("a=fingerprint:", "a=ice-ufrag:", "a=ice-pwd:"):
        if not any(line.startswith(attribute) for line in lines):
            raise SdpError(f"sdp lacks {attribute[2:-1]}")


class RoomMedia:
    """Peers, mixer and fan-out design of one room; ``sync`` applies the room's roles to the
    media."""

    def __init__(
        self,
        room: Room,
        settings: Settings,
        on_packets_in: Callable[[int], None] | None = None,
        on_drop: Callable[[DropReason], None] | None = None,
    ) -> None:
        self.room = room
        self.settings = settings
        self.peers: dict[str, Peer] = {}
        self.fanout = fanout_design(settings.fanout)
        self.mixer = RoomMixer(
            self.fanout,
            bitrate=settings.bitrate,
            complexity=settings.complexity,
            speaker_complexity=settings.speaker_complexity,
            on_levels=self._on_levels,
        )
        self._on_packets_in = on_packets_in
        self._on_drop = on_drop
        self._closing: set[asyncio.Future[None]] = set()
        self.mixer.on_gone = lambda user_id: self._spawn(self.drop(user_id, "receive_timeout"))

    def _on_levels(self, levels: dict[str, float]) -> None:
        speaking = [u for u, level in levels.items() if level > -50.0]
        if speaking != self.room.speaking or speaking:
            self.room.speaking = speaking
            self.room.publish({"type": "levels", "levels": levels, "speaking": speaking})

    async def connect(self, user_id: str, offer_sdp: str) -> Pending:
        """Answer a participant's offer without attaching it to the room yet.

        The caller re-checks the room and then calls ``commit`` or ``discard``, so a join
        that became invalid while ICE candidates were gathered changes nothing.
        """
        check_offer(offer_sdp)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        slot = SpeakerInput()

        @pc.on("track")
        def on_track(remote: MediaStreamTrack) -> None:
            for transceiver in pc.getTransceivers():
                if transceiver.receiver.track is remote:
                    self._hook_receiver(transceiver.receiver, user_id, slot)

        track = self.fanout.new_track()
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
            if not audio:
                raise SdpError("sdp offers no audio")
            audio[0].setCodecPreferences(opus_only())
            sender = pc.addTrack(track)
            await pc.setLocalDescription(await pc.createAnswer())
        except SdpError:
            await pc.close()
            raise
        except Exception as error:  # aiortc raises assorted errors on bad SDP
            await pc.close()
            raise SdpError(f"sdp rejected: {error}") from error
        return Pending(user_id, pc, track, slot, pc.localDescription.sdp, sender)

    def commit(self, pending: Pending) -> None:
        """Attach an answered peer: it hears the room from the next tick on."""
        user_id, pc = pending.user_id, pending.pc
        self.peers[user_id] = Peer(user_id, pc, pending.track)
        self.mixer.inputs[user_id] = pending.slot
        self.fanout.add(user_id, PeerLink(pending.track, pending.sender, pending.answer))
        self.sync()
        self.mixer.start()  # at the first peer: a room nobody ever joined costs no ticks

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            if state not in ("failed", "closed"):
                return
            peer = self.peers.get(user_id)
            if peer is not None and peer.pc is pc:
                # failed: ICE consent freshness or DTLS failed; closed: the peer closed its
                # connection (DTLS close) without leaving
                await self.drop(user_id, "connection_failed" if state == "failed" else "closed")

    async def drop(self, user_id: str, reason: DropReason) -> None:
        """The server drops a participant whose media is gone; counted by reason if it was
        still in the room (a participant that left is not a drop)."""
        if user_id in self.room.members:
            self.room.leave(user_id)
            self.sync()
            if self._on_drop is not None:
                self._on_drop(reason)
        await self.disconnect(user_id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def discard(self, pending: Pending) -> None:
        pending.track.stop()
        await pending.pc.close()

    def _hook_receiver(self, receiver: RTCRtpReceiver, user_id: str, slot: SpeakerInput) -> None:
        """Decode speaker audio on arrival instead of through aiortc's 80 ms jitter buffer.

        Audio from anyone who is not in the mix (listeners, muted speakers) is counted and
        dropped undecoded.
        """
        counter = self._on_packets_in

        async def on_rtp(packet: RtpPacket, arrival_time_ms: int = 0) -> None:
            if user_id in self.mixer.mixed:
                slot.feed(packet.payload)
            else:
                slot.received += 1
            if counter is not None:
                counter(1)

        replace_rtp_handler(receiver, on_rtp)

    def sync(self) -> None:
        """Apply roles and mutes: N-1 streams for speakers, mix membership, departures."""
        self.mixer.set_speakers(self.room.speakers(), self.room.mixed())
        for user_id in [u for u in self.peers if u not in self.room.members]:
            peer = self._detach(user_id)
            if peer is not None:
                self._spawn(self._close_peer(peer))

    def _detach(self, user_id: str) -> Peer | None:
        peer = self.peers.pop(user_id, None)
        if peer is not None:
            self.mixer.forget(user_id)
            self.fanout.remove(user_id)
            peer.track.stop()
        return peer

    @staticmethod
    async def _close_peer(peer: Peer) -> None:
        with contextlib.suppress(Exception):
            await peer.pc.close()

    async def disconnect(self, user_id: str) -> None:
        """Drop a participant's media now (it left, was removed, or its connection died)."""
        peer = self._detach(user_id)
        if peer is not None:
            await self._close_peer(peer)

    async def close(self) -> None:
        await self.mixer.stop()
        self.fanout.stop()
        await asyncio.gather(*(self.disconnect(u) for u in list(self.peers)))
        if self._closing:
            await asyncio.gather(*self._closing)

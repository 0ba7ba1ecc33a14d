"""The WebRTC sessions of one room's participants on one host: answer, attach, detach, close.

Both kinds of room media use it: the origin (``media.RoomMedia``), which mixes, and an edge
(``edge_media.EdgeMedia``), which relays. Inbound audio goes, undecoded, to a handler per
peer; a connection that fails or closes is reported to ``on_gone``.
"""

from __future__ import annotations

import asyncio
import contextlib
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

from media_bench.common.aiortc_internals import check_consent, replace_rtp_handler
from media_bench.server.fanout import PeerLink
from spaces_core.errors import Refused

DropReason = Literal[
    "connection_failed", "consent_expired", "closed", "receive_timeout", "relay_lost", "worker_lost"
]
"""Why the media dropped a participant (the ``reason`` label of the drops metric)."""
CONSENT_CHECKS = 3
"""Consent checks missed in a row that expire a peer's consent (within its consent timeout)."""

PayloadHandler = Callable[[bytes], None]
"""What one peer's inbound Opus payloads go to, undecoded."""


class SdpError(Refused):
    """The offer is not a usable audio offer: refused with 400."""

    def __init__(self, problem: str) -> None:
        super().__init__(400, f"malformed SDP: {problem}")


@dataclass
class Peer:
    user_id: str
    pc: RTCPeerConnection
    track: MediaStreamTrack


@dataclass(eq=False)
class Pending:
    """An answered offer not yet attached to the room (hashed by identity)."""

    user_id: str
    pc: RTCPeerConnection
    track: MediaStreamTrack
    answer: str
    sender: RTCRtpSender
    consent_expired: bool = False
    """Set when the peer left the consent checks unanswered (its connection then closes)."""

    @property
    def link(self) -> PeerLink:
        return PeerLink(self.track, self.sender, self.answer)


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


class PeerSessions:
    """The attached peers of one room on this host, by user id."""

    def __init__(
        self,
        new_track: Callable[[], MediaStreamTrack],
        on_gone: Callable[[str, DropReason], Coroutine[Any, Any, None]],
        on_packets_in: Callable[[int], None] | None = None,
        *,
        consent_timeout: float,
    ) -> None:
        self.peers: dict[str, Peer] = {}
        self.consent_timeout = consent_timeout
        self._new_track = new_track
        self._on_gone = on_gone
        self._on_packets_in = on_packets_in
        self._closing: set[asyncio.Future[None]] = set()

    def __contains__(self, user_id: object) -> bool:
        return user_id in self.peers

    async def connect(self, user_id: str, offer_sdp: str, on_payload: PayloadHandler) -> Pending:
        """Answer a participant's offer without attaching it; its audio goes to
        ``on_payload`` from the first packet on."""
        check_offer(offer_sdp)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @pc.on("track")
        def on_track(remote: MediaStreamTrack) -> None:
            for transceiver in pc.getTransceivers():
                if transceiver.receiver.track is remote:
                    self._hook_receiver(transceiver.receiver, on_payload)

        track = self._new_track()
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
        pending = Pending(user_id, pc, track, pc.localDescription.sdp, sender)

        def expired() -> None:
            pending.consent_expired = True

        interval = self.consent_timeout / CONSENT_CHECKS
        for transport in {t.receiver.transport for t in pc.getTransceivers()}:
            check_consent(transport, interval, CONSENT_CHECKS, expired)
        return pending

    def _hook_receiver(self, receiver: RTCRtpReceiver, on_payload: PayloadHandler) -> None:
        """Take inbound audio on arrival instead of through aiortc's 80 ms jitter buffer."""
        counter = self._on_packets_in

        async def on_rtp(packet: RtpPacket, arrival_time_ms: int = 0) -> None:
            on_payload(packet.payload)
            if counter is not None:
                counter(1)

        replace_rtp_handler(receiver, on_rtp)

    def attach(self, pending: Pending) -> None:
        """Keep an answered peer; a failed or closed connection is reported to ``on_gone``."""
        user_id, pc = pending.user_id, pending.pc
        self.peers[user_id] = Peer(user_id, pc, pending.track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            if state not in ("failed", "closed"):
                return
            peer = self.peers.get(user_id)
            if peer is not None and peer.pc is pc:
                # consent expired: the peer stopped answering (aiortc then says closed: its
                # DTLS transport ends before the ICE one fails); failed: ICE or DTLS failed;
                # closed: the peer closed its connection (DTLS close) without leaving
                reason: DropReason = "closed"
                if pending.consent_expired:
                    reason = "consent_expired"
                elif state == "failed":
                    reason = "connection_failed"
                await self._on_gone(user_id, reason)

    @staticmethod
    async def discard(pending: Pending) -> None:
        pending.track.stop()
        await pending.pc.close()

    def detach(self, user_id: str) -> Peer | None:
        """Forget a peer and stop its track; the caller closes its connection."""
        peer = self.peers.pop(user_id, None)
        if peer is not None:
            peer.track.stop()
        return peer

    @staticmethod
    async def close_peer(peer: Peer) -> None:
        with contextlib.suppress(Exception):
            await peer.pc.close()

    def close_later(self, peer: Peer) -> None:
        self.spawn(self.close_peer(peer))

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def settle(self) -> None:
        """Wait for the work spawned so far (closing connections, drops)."""
        if self._closing:
            await asyncio.gather(*self._closing)

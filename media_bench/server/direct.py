"""The stripped fan-out path's pieces: RTP header, SRTP protect, UDP send.

aiortc's ``RTCRtpSender`` costs ~35-55 us per listener packet (a task wake-up, packet
objects, header extensions, two awaits). ``DirectSender`` writes each packet straight onto the
peer's SRTP session and nominated ICE pair instead (``direct_fanout.DirectFanOut`` calls it
from the mixer's tick). The peer connection still owns ICE, DTLS and RTCP; its sender reads an
``IdleTrack`` and never sends RTP itself, so the stream's SSRC, sequence numbers and
timestamps all come from one place.
"""

from __future__ import annotations

import asyncio
import random
import re
import struct
from collections.abc import Callable
from typing import Any

import av
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media_bench.common.aiortc_internals import (
    RTP_COMPONENT,
    nominated_pairs,
    outbound_srtp,
    sender_ssrc,
)

_HEADER = struct.Struct("!BBHII")
_OPUS = re.compile(r"^a=rtpmap:(\d+) opus/48000", re.IGNORECASE | re.MULTILINE)


class IdleTrack(MediaStreamTrack):
    """A track that never yields a frame, so aiortc's sender loop sleeps until it stops."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        super().stop()
        self._stopped.set()

    async def recv(self) -> av.Packet[Any]:
        await self._stopped.wait()
        raise MediaStreamError


def opus_payload_type(sdp: str) -> int:
    """The payload type negotiated for Opus in a session description."""
    found = _OPUS.search(sdp)
    if found is None:
        raise ValueError("no Opus payload type in the description")
    return int(found.group(1))


class DirectSender:
    """Sends already-encoded payloads of one peer's stream, bypassing ``RTCRtpSender``.

    aiortc's objects are resolved here, once per peer: the DTLS transport (the server never
    renegotiates), the SSRC, the live map of nominated ICE pairs, and the SRTP ``protect`` once
    the handshake has made it.
    """

    def __init__(self, sender: RTCRtpSender, payload_type: int) -> None:
        self._dtls = sender.transport
        self._payload_type = payload_type & 0x7F
        self._ssrc = sender_ssrc(sender)
        self._nominated = nominated_pairs(self._dtls)
        self._protect: Callable[[bytes], bytes] | None = None
        self._sequence = random.getrandbits(16)
        self._origin = random.getrandbits(32)

    def send(self, payload: bytes, pts: int) -> bool:
        """Send one packet stamped ``pts`` (48 kHz); False while the peer is not connected."""
        if self._dtls.state != "connected":
            return False
        protect = self._protect
        if protect is None:
            session = outbound_srtp(self._dtls)
            if session is None:
                return False
            protect = self._protect = session.protect
        pair = self._nominated.get(RTP_COMPONENT)
        if pair is None or pair.protocol.transport is None:
            return False
        header = _HEADER.pack(
            0x80,
            self._payload_type,
            self._sequence,
            (self._origin + pts) & 0xFFFFFFFF,
            self._ssrc,
        )
        self._sequence = (self._sequence + 1) & 0xFFFF
        pair.protocol.transport.sendto(protect(header + payload), pair.remote_addr)
        return True

"""The stripped fan-out path (``--fanout direct``): RTP header, SRTP protect, UDP send.

aiortc's ``RTCRtpSender`` costs ~35-55 us per listener packet (a task wake-up, packet
objects, header extensions, two awaits). Here the mixer itself writes each peer's packet
straight onto the peer's SRTP session and nominated ICE pair. The peer connection still owns
ICE, DTLS and RTCP; its sender reads an ``IdleTrack`` and never sends RTP itself, so the
stream's SSRC, sequence numbers and timestamps all come from one place.
"""

from __future__ import annotations

import asyncio
import random
import re
import struct
from typing import Any

import av
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

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
    """Sends already-encoded payloads of one peer's stream, bypassing ``RTCRtpSender``."""

    def __init__(self, sender: RTCRtpSender, payload_type: int) -> None:
        self._sender = sender
        self._payload_type = payload_type & 0x7F
        self._ssrc = sender._ssrc
        self._sequence = random.getrandbits(16)
        self._origin = random.getrandbits(32)

    def send(self, payload: bytes, pts: int) -> bool:
        """Send one packet stamped ``pts`` (48 kHz); False while the peer is not connected."""
        dtls = self._sender.transport
        if dtls is None or dtls.state != "connected" or dtls._tx_srtp is None:
            return False
        pair = dtls.transport._connection._nominated.get(1)
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
        pair.protocol.transport.sendto(dtls._tx_srtp.protect(header + payload), pair.remote_addr)
        return True

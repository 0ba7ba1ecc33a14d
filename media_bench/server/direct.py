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
from typing import TYPE_CHECKING, Any

import av
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

if TYPE_CHECKING:
    from aioice.ice import CandidatePair

from media_bench.common.aiortc_internals import (
    RTP_COMPONENT,
    InPlaceProtect,
    datagram_send,
    dtls_connected_check,
    nominated_pairs,
    outbound_srtp,
    sender_ssrc,
    socket_fd,
)
from media_bench.server.fast_send import NOT_PROTECTED, SENT, native_send, sockaddr

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

    aiortc's objects are resolved here, once per peer: the DTLS transport's state check (the
    server never renegotiates), the SSRC, the live map of nominated ICE pairs, the SRTP
    protector once the handshake has made it, and the nominated pair's socket and address
    (again whenever the nominated pair changes).

    Where a listener packet's server CPU went before this path was stripped (py-spy,
    ``bench mixer``, ``direct``, 300 listeners; microbenchmarks of each step on this machine):
    the UDP ``sendto`` system call ~6.5 us (on loopback it includes delivery into the
    receiver's socket), pylibsrtp's ``Session.protect`` 3.3 us (allocations and two copies
    around libsrtp's 1.2 us), asyncio's ``DatagramTransport.sendto`` wrapper ~1 us, formatting
    the DTLS state as a string ~1 us, header and concatenation 0.5 us. Now: the header is
    packed and the payload copied into the protector's own buffer, libsrtp protects it in place
    and the socket sends that view; a send the socket cannot take now is dropped (it is
    real-time audio; asyncio would queue it behind the others).

    Where it goes now (py-spy ``--native``, 400 listeners, before the native send): of the
    tick's time, ``sendto`` ~half (in the server, a loopback send also wakes the receiving
    process: ~12 us, twice the idle-socket microbenchmark), libsrtp ~15%, the rest Python:
    the per-packet checks, ``pack_into``, the copy, the cffi call and the socket method. The
    native send (``fast_send``) does header, copy, protect and ``sendto`` in one C call: 1.22x
    the listeners per core of the pure-Python path in the same sitting (``bench mixer``,
    ``SPACES_LAB_FAST_SEND=0`` for the other). Batching sends (``sendmmsg``) is not open to this
    design: aioice gives each peer connection a socket of its own, and ``sendmmsg`` sends on one.
    """

    def __init__(self, sender: RTCRtpSender, payload_type: int) -> None:
        dtls = sender.transport
        self._dtls = dtls
        self._connected = dtls_connected_check(dtls)
        self._payload_type = payload_type & 0x7F
        self._ssrc = sender_ssrc(sender)
        self._nominated = nominated_pairs(dtls)
        self._protect: InPlaceProtect | None = None
        self._pair: CandidatePair | None = None
        self._send: Callable[[Any, Any], Any] | None = None
        self._address: Any = None
        self._sequence = random.getrandbits(16)
        self._origin = random.getrandbits(32)
        self._native = native_send()
        self._fd = -1
        self._sockaddr = b""
        self._handles = (0, 0, 0)

    def send(self, payload: bytes, pts: int) -> bool:
        """Send one packet stamped ``pts`` (48 kHz); False while the peer is not connected or
        its socket cannot take the packet now."""
        if not self._connected():
            return False
        protect = self._protect
        if protect is None:
            session = outbound_srtp(self._dtls)
            if session is None:
                return False
            protect = self._protect = InPlaceProtect(session)
            self._handles = protect.native_handles()
        # after a failed send there is no socket, and the nominated pair may be gone as well
        route = self._send is None or self._nominated.get(RTP_COMPONENT) is not self._pair
        if route and not self._route():
            return False
        if self._native is not None:
            return self._send_native(protect, payload, pts)
        end = _HEADER.size + len(payload)
        if end > protect.capacity:
            return False
        buffer = protect.buffer
        _HEADER.pack_into(
            buffer,
            0,
            0x80,
            self._payload_type,
            self._sequence,
            (self._origin + pts) & 0xFFFFFFFF,
            self._ssrc,
        )
        buffer[_HEADER.size : end] = payload
        packet = protect(end)
        if packet is None:
            return False
        self._sequence = (self._sequence + 1) & 0xFFFF
        try:
            self._send(packet, self._address)  # type: ignore[misc]
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            self._pair = self._send = None
            return False
        return True

    def _send_native(self, protect: InPlaceProtect, payload: bytes, pts: int) -> bool:
        """``send``'s packing, protecting and sending in one native call (``fast_send``)."""
        routine, context, buffer = self._handles
        try:
            outcome = self._native(  # type: ignore[misc]
                self._fd, self._sockaddr, routine, context, buffer, protect.capacity,
                self._payload_type, self._sequence, self._origin + pts, self._ssrc, payload,
            )  # fmt: skip
        except OSError:
            self._sequence = (self._sequence + 1) & 0xFFFF
            self._pair = self._send = None
            return False
        if outcome != NOT_PROTECTED:
            self._sequence = (self._sequence + 1) & 0xFFFF
        return outcome == SENT

    def _route(self) -> bool:
        """Take the nominated pair's socket and address; False while there is none."""
        pair = self._nominated.get(RTP_COMPONENT)
        self._pair = self._send = None
        if pair is None or pair.protocol.transport is None:
            return False
        self._send = datagram_send(pair.protocol)
        self._address = pair.remote_addr
        if self._native is not None:
            self._fd = socket_fd(pair.protocol)
            self._sockaddr = sockaddr(pair.remote_addr)
        self._pair = pair
        return True

"""A host's relay endpoint: one UDP socket carrying every relayed room, both ways.

Each datagram (``relay_wire``) names its room and ends with a tag: the first ``TAG_BYTES`` of
HMAC-SHA256 of the rest under the relay key (``relay_key``, from the token secret every node of
a fleet shares through its database), so a relay trusts what it receives by the key, not by the
source address (which anyone on the path can forge). The room's media on this host
(``RelayReceiver``: an origin's ``RoomMedia`` or an ``EdgeMedia``) then says whether it takes that
kind of message from that address. A datagram whose tag is wrong is dropped and counted
(``relay_unauthenticated``); one that does not decode, names no room here, or comes from an
address the room has not registered (an origin not known, an edge not added) likewise
(``relay_unregistered``). A captured datagram replayed later is not told apart (the tick it
carries is a stale one; the mixers do not check it).
"""

from __future__ import annotations

import asyncio
import hmac
import os
from typing import Any, Protocol

from media_bench.server.relay_wire import RelayMessage, WireError, decode
from media_bench.server.stage import Address

TAG_BYTES = 16
"""Bytes of HMAC-SHA256 that end each relay datagram (128 bits: a forgery has no chance)."""
_DIGEST = "sha256"
_UNSHARED = os.urandom(32)
"""This process's own secret, for hosts made without a token secret (tests, benchmarks in one
process): their relays authenticate each other, and no one else's."""


def relay_key(secret: bytes | None) -> bytes:
    """The relay key from the token secret (its own derivation: the token key is not reused)."""
    return hmac.digest(_UNSHARED if secret is None else secret, b"spaces-lab relay", _DIGEST)


class RelayReceiver(Protocol):
    """A room's media, as the relay endpoint hands it messages."""

    def accepts(self, message: RelayMessage, source: Address) -> bool:
        """Whether the room takes this message from ``source`` (its origin, or an edge it
        relays to)."""

    def receive(self, message: RelayMessage, source: Address) -> None:
        """Handle a message ``accepts`` took."""


class RelayCounters(Protocol):
    def sent(self, peer: Address) -> None: ...

    def received(self, peer: Address) -> None: ...

    def rejected(self) -> None: ...

    def unauthenticated(self) -> None: ...


class RelayEndpoint(asyncio.DatagramProtocol):
    """The socket and the room routing; ``start`` binds it."""

    def __init__(self, counters: RelayCounters, key: bytes) -> None:
        self.rooms: dict[str, RelayReceiver] = {}
        self._counters = counters
        self._key = key
        self._transport: asyncio.DatagramTransport | None = None
        self._address: Address | None = None

    async def start(self, host: str, port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self._transport = transport
        bound = transport.get_extra_info("sockname")
        self._address = (str(bound[0]), int(bound[1]))

    @property
    def address(self) -> Address:
        if self._address is None:
            raise RuntimeError("the relay endpoint is not started")
        return self._address

    @property
    def started(self) -> bool:
        return self._transport is not None

    def send(self, datagram: bytes, to: Address) -> None:
        if self._transport is not None:
            tag = hmac.digest(self._key, datagram, _DIGEST)[:TAG_BYTES]
            self._transport.sendto(datagram + tag, to)
            self._counters.sent(to)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        source: Address = (str(addr[0]), int(addr[1]))
        body, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
        if len(data) <= TAG_BYTES or not hmac.compare_digest(
            tag, hmac.digest(self._key, body, _DIGEST)[:TAG_BYTES]
        ):
            self._counters.unauthenticated()
            return
        try:
            message = decode(body)
        except WireError:
            self._counters.rejected()
            return
        room = self.rooms.get(message.room)
        if room is None or not room.accepts(message, source):
            self._counters.rejected()
            return
        self._counters.received(source)
        room.receive(message, source)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

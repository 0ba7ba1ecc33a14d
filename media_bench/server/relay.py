"""A host's relay endpoint: one UDP socket carrying every relayed room, both ways.

Each datagram (``relay_wire``) names its room; the room's media on this host
(``RelayReceiver``: an origin's ``RoomMedia`` or an ``EdgeMedia``) says whether it takes that
kind of message from that address. A datagram that does not decode, names no room here, or
comes from an address the room has not registered (an origin not known, an edge not added)
is dropped and counted.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from media_bench.server.relay_wire import RelayMessage, WireError, decode
from media_bench.server.stage import Address


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


class RelayEndpoint(asyncio.DatagramProtocol):
    """The socket and the room routing; ``start`` binds it."""

    def __init__(self, counters: RelayCounters) -> None:
        self.rooms: dict[str, RelayReceiver] = {}
        self._counters = counters
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
            self._transport.sendto(datagram, to)
            self._counters.sent(to)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        source: Address = (str(addr[0]), int(addr[1]))
        try:
            message = decode(data)
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

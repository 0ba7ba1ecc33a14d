"""The relay's datagrams, declared once: what an origin and its edges send each other over UDP.

Every datagram starts with a version byte, a kind byte and the room id; then, by kind:

- ``ListenerMix`` (origin to edge, once per tick): tick, the origin's send time, the encoded
  listener mix;
- ``SpeakerMix`` (origin to edge): a speaker the edge carries, tick, that speaker's N-1 mix;
- ``Uplink`` (edge to origin): a speaker the edge carries, one Opus payload it sent.

Strings are a length byte and UTF-8, integers big-endian unsigned, the payload the rest.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VERSION = 1
_HEAD = struct.Struct("!BB")
_TICK = struct.Struct("!Q")
_TICK_SENT = struct.Struct("!QQ")


class WireError(ValueError):
    """A datagram that is not a relay message of this version."""


@dataclass(frozen=True)
class ListenerMix:
    room: str
    tick: int
    sent_ns: int
    """``time.time_ns()`` at the origin as it sent: a wall clock, so the edge can subtract it
    from its own across machines (``time.monotonic_ns`` would only compare within one); the
    hop delay it gives is as good as the two clocks' synchronisation."""
    payload: bytes


@dataclass(frozen=True)
class SpeakerMix:
    room: str
    user: str
    tick: int
    payload: bytes


@dataclass(frozen=True)
class Uplink:
    room: str
    user: str
    payload: bytes


RelayMessage = ListenerMix | SpeakerMix | Uplink
_KINDS: dict[type[RelayMessage], int] = {ListenerMix: 1, SpeakerMix: 2, Uplink: 3}


def _text(value: str) -> bytes:
    data = value.encode()
    if len(data) > 255:
        raise ValueError(f"{value[:20]!r}... is over 255 bytes")
    return bytes((len(data),)) + data


def encode(message: RelayMessage) -> bytes:
    head = _HEAD.pack(VERSION, _KINDS[type(message)]) + _text(message.room)
    if isinstance(message, ListenerMix):
        return head + _TICK_SENT.pack(message.tick, message.sent_ns) + message.payload
    if isinstance(message, SpeakerMix):
        return head + _text(message.user) + _TICK.pack(message.tick) + message.payload
    return head + _text(message.user) + message.payload


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise WireError("datagram too short")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def text(self) -> str:
        try:
            return self.take(self.take(1)[0]).decode()
        except UnicodeDecodeError as error:
            raise WireError("a string is not UTF-8") from error

    def rest(self) -> bytes:
        return self.data[self.at :]


def decode(data: bytes) -> RelayMessage:
    """The message a datagram carries; ``WireError`` if it carries none."""
    reader = _Reader(data)
    version, kind = _HEAD.unpack(reader.take(_HEAD.size))
    if version != VERSION:
        raise WireError(f"version {version}, not {VERSION}")
    room = reader.text()
    if kind == 1:
        tick, sent_ns = _TICK_SENT.unpack(reader.take(_TICK_SENT.size))
        return ListenerMix(room, tick, sent_ns, reader.rest())
    if kind == 2:
        user = reader.text()
        (tick,) = _TICK.unpack(reader.take(_TICK.size))
        return SpeakerMix(room, user, tick, reader.rest())
    if kind == 3:
        user = reader.text()
        return Uplink(room, user, reader.rest())
    raise WireError(f"unknown kind {kind}")

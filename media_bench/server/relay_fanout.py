"""The origin's fan-out: its own peers through the room's design, and its edges over the relay.

Each tick the already-encoded listener mix goes once to every edge (one datagram each), and
the N-1 mix of a speaker an edge carries goes to that edge; nothing is encoded twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from media_bench.server.fanout import FanOutDesign, PeerLink, Stream
from media_bench.server.relay_wire import ListenerMix, SpeakerMix, encode
from media_bench.server.stage import Address

RelaySend = Callable[[bytes, Address], None]


class RemoteSpeakerStream:
    """One remote speaker's N-1 mix, sent to the edge that carries it."""

    def __init__(self, send: RelaySend, room_id: str, user_id: str, edge: Address) -> None:
        self._send, self._room, self._user, self._edge = send, room_id, user_id, edge

    def publish(self, tick: int, item: Any) -> None:
        self._send(encode(SpeakerMix(self._room, self._user, tick, bytes(item))), self._edge)


class RelayedFanOut:
    """A ``FanOutDesign`` that also relays: ``edges`` hear the listener mix, ``remote``
    speakers their N-1 mix (a speaker's edge is read when its stream opens)."""

    def __init__(self, local: FanOutDesign, room_id: str, send: RelaySend | None) -> None:
        self.local = local
        self.encoded_listener_mix = local.encoded_listener_mix
        self.room_id = room_id
        self._send = send
        self.edges: set[Address] = set()
        self.remote: dict[str, Address] = {}
        self._remote_streams: set[str] = set()

    def add_edge(self, edge: Address) -> None:
        if self._send is None or not self.local.encoded_listener_mix:
            raise ValueError("relaying needs a relay endpoint and an encoded listener mix")
        self.edges.add(edge)

    def new_track(self) -> MediaStreamTrack:
        return self.local.new_track()

    def add(self, user_id: str, peer: PeerLink) -> None:
        self.local.add(user_id, peer)

    def remove(self, user_id: str) -> None:
        self.local.remove(user_id)

    def open_speaker_stream(self, user_id: str) -> Stream:
        edge = self.remote.get(user_id)
        if edge is None or self._send is None:
            return self.local.open_speaker_stream(user_id)
        self._remote_streams.add(user_id)
        return RemoteSpeakerStream(self._send, self.room_id, user_id, edge)

    def close_speaker_stream(self, user_id: str) -> None:
        if user_id in self._remote_streams:
            self._remote_streams.discard(user_id)
        else:
            self.local.close_speaker_stream(user_id)

    def deliver(self, tick: int, item: Any) -> None:
        if self.local.has_listeners():
            self.local.deliver(tick, item)
        if self.edges and self._send is not None:
            datagram = encode(ListenerMix(self.room_id, tick, time.time_ns(), bytes(item)))
            for edge in self.edges:
                self._send(datagram, edge)

    def has_listeners(self) -> bool:
        return bool(self.edges) or self.local.has_listeners()

    def take_sent(self) -> int:
        return self.local.take_sent()

    def stop(self) -> None:
        self.edges.clear()
        self._remote_streams.clear()
        self.local.stop()

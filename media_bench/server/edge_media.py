"""The media of a room an edge relays: its peers hear what the origin sends, never re-encoded.

The origin's listener mix arrives once per tick and goes straight to every listener here
(``DirectFanOut``, stamped from the origin's tick so timestamps run on across edges and
restarts); a speaker carried here (``Stage.remote``) has its Opus payloads forwarded to the
origin undecoded and hears its own N-1 mix, relayed back, instead. An edge that hears nothing
from its origin for ``Settings.relay_timeout`` drops its peers (``relay_lost``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from media_bench.server.direct_fanout import DirectFanOut, DirectSpeakerStream
from media_bench.server.peers import DropReason, Peer, PeerSessions, Pending
from media_bench.server.relay_fanout import RelaySend
from media_bench.server.relay_wire import ListenerMix, RelayMessage, SpeakerMix, Uplink, encode
from media_bench.server.stage import Address, Stage


class EdgeMedia:
    """Peers and fan-out of a relayed room; ``sync`` applies a stage to them."""

    def __init__(
        self,
        room_id: str,
        origin: Address,
        relay: RelaySend,
        relay_timeout: float,
        consent_timeout: float,
        on_packets_in: Callable[[int], None] | None = None,
        on_drop: Callable[[str, DropReason], None] | None = None,
        on_delay: Callable[[float], None] | None = None,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        self.room_id = room_id
        self.origin = origin
        self.stage = Stage()
        self.fanout = DirectFanOut()
        self.sessions = PeerSessions(
            self.fanout.new_track, self.drop, on_packets_in, consent_timeout=consent_timeout
        )
        self.relay_timeout = relay_timeout
        self.heard_at = time.monotonic()
        """When the origin was last heard (or the edge opened)."""
        self._relay = relay
        self._on_drop = on_drop
        self._on_delay = on_delay
        self._on_sent = on_sent
        self._streams: dict[str, DirectSpeakerStream] = {}
        self._forwarding: set[str] = set()
        self._watch = asyncio.ensure_future(self._watch_origin())

    @property
    def peers(self) -> dict[str, Peer]:
        return self.sessions.peers

    async def connect(self, user_id: str, offer_sdp: str) -> Pending:
        """Answer a participant's offer without attaching it to the room yet."""
        forwarding, relay, origin = self._forwarding, self._relay, self.origin
        room_id = self.room_id

        def on_payload(payload: bytes) -> None:
            if user_id in forwarding:
                relay(encode(Uplink(room_id, user_id, payload)), origin)

        return await self.sessions.connect(user_id, offer_sdp, on_payload)

    def commit(self, pending: Pending) -> None:
        """Attach an answered peer: it hears the room from the next relayed tick on."""
        self.sessions.attach(pending)
        self.fanout.add(pending.user_id, pending.link)
        self.sync(self.stage.with_member(pending.user_id))

    async def discard(self, pending: Pending) -> None:
        await self.sessions.discard(pending)

    def sync(self, stage: Stage) -> None:
        """Departures, and which peers here speak: those forward their audio and hear their
        N-1 mix; the rest hear the listener mix."""
        self.stage = stage
        for user_id in [u for u in self.peers if u not in stage.members]:
            peer = self._detach(user_id)
            if peer is not None:
                self.sessions.close_later(peer)
        speaking = {u for u in stage.speakers if u in stage.remote and u in self.peers}
        for user_id in [u for u in self._streams if u not in speaking]:
            del self._streams[user_id]
            self.fanout.close_speaker_stream(user_id)
        for user_id in speaking - set(self._streams):
            self._streams[user_id] = self.fanout.open_speaker_stream(user_id)
        self._forwarding.clear()
        self._forwarding.update(u for u in stage.mixed if u in speaking)

    def _detach(self, user_id: str) -> Peer | None:
        peer = self.sessions.detach(user_id)
        if peer is not None:
            self.fanout.remove(user_id)
            self._forwarding.discard(user_id)
        return peer

    async def drop(self, user_id: str, reason: DropReason) -> None:
        """Drop a participant whose media is gone; reported if it was still a member."""
        if user_id in self.stage.members:
            self.sync(self.stage.without(user_id))
            if self._on_drop is not None:
                self._on_drop(user_id, reason)
        await self.disconnect(user_id)

    async def disconnect(self, user_id: str) -> None:
        peer = self._detach(user_id)
        if peer is not None:
            await self.sessions.close_peer(peer)

    # -- the relay: RelayReceiver -----------------------------------------------------------
    def accepts(self, message: RelayMessage, source: Address) -> bool:
        return source == self.origin and isinstance(message, ListenerMix | SpeakerMix)

    def receive(self, message: RelayMessage, source: Address) -> None:
        self.heard_at = time.monotonic()
        if isinstance(message, ListenerMix):
            if self._on_delay is not None:
                self._on_delay(max(0.0, (time.time_ns() - message.sent_ns) / 1e9))
            if self.fanout.has_listeners():
                self.fanout.deliver(message.tick, message.payload)
        elif isinstance(message, SpeakerMix):
            stream = self._streams.get(message.user)
            if stream is not None:
                stream.publish(message.tick, message.payload)
        sent = self.fanout.take_sent()
        if sent and self._on_sent is not None:
            self._on_sent(sent)

    async def _watch_origin(self) -> None:
        """Drop every peer once the origin has been silent for ``relay_timeout``."""
        while True:
            silent = time.monotonic() - self.heard_at
            if silent >= self.relay_timeout:
                for user_id in list(self.peers):
                    await self.drop(user_id, "relay_lost")
                silent = 0.0
            await asyncio.sleep(min(self.relay_timeout - silent, self.relay_timeout / 4) + 0.01)

    async def close(self) -> None:
        self._watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._watch
        self.fanout.stop()
        self._streams.clear()
        await asyncio.gather(*(self.disconnect(u) for u in list(self.peers)))
        await self.sessions.settle()

"""The media of a room this host mixes (its origin): its peers, its mixer, its fan-out, its edges.

It sees the room only as the ``Stage`` it is given; levels and drops go out through callbacks.
Speakers an edge carries (``Stage.remote``) reach the mixer as relayed Opus payloads and hear
their N-1 mix back over the relay; edges hear the listener mix, already encoded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from media_bench.server.fanout_designs import fanout_design
from media_bench.server.mixer import RoomMixer, SpeakerInput
from media_bench.server.peers import DropReason, Peer, PeerSessions, Pending
from media_bench.server.relay_fanout import RelayedFanOut, RelaySend
from media_bench.server.relay_wire import RelayMessage, Uplink
from media_bench.server.settings import Settings
from media_bench.server.stage import Address, Stage


class RoomMedia:
    """Peers, mixer and fan-out of one room; ``sync`` applies a stage to them."""

    def __init__(
        self,
        room_id: str,
        settings: Settings,
        relay: RelaySend | None = None,
        on_packets_in: Callable[[int], None] | None = None,
        on_drop: Callable[[str, DropReason], None] | None = None,
        on_levels: Callable[[dict[str, float]], None] | None = None,
    ) -> None:
        self.room_id = room_id
        self.settings = settings
        self.stage = Stage()
        self.fanout = RelayedFanOut(fanout_design(settings.fanout), room_id, relay)
        self.sessions = PeerSessions(
            self.fanout.new_track,
            self.drop,
            on_packets_in,
            consent_timeout=settings.consent_timeout,
        )
        self.mixer = RoomMixer(
            self.fanout,
            bitrate=settings.bitrate,
            complexity=settings.complexity,
            speaker_complexity=settings.speaker_complexity,
            on_levels=on_levels,
        )
        self._on_packets_in = on_packets_in
        self._on_drop = on_drop
        self._slots: dict[Pending, SpeakerInput] = {}
        """The inbound slots of answered peers, until they are attached."""
        self.mixer.on_gone = lambda user_id: self.sessions.spawn(
            self.drop(user_id, "receive_timeout")
        )

    @property
    def peers(self) -> dict[str, Peer]:
        return self.sessions.peers

    async def connect(self, user_id: str, offer_sdp: str) -> Pending:
        """Answer a participant's offer without attaching it to the room yet.

        The caller re-checks the room and then calls ``commit`` or ``discard``, so a join
        that became invalid while ICE candidates were gathered changes nothing.
        """
        slot = SpeakerInput()
        mixer = self.mixer

        def on_payload(payload: bytes) -> None:
            if user_id in mixer.mixed:
                slot.feed(payload)
            else:
                slot.received += 1

        pending = await self.sessions.connect(user_id, offer_sdp, on_payload)
        self._slots[pending] = slot
        return pending

    def commit(self, pending: Pending) -> None:
        """Attach an answered peer: it hears the room from the next tick on, as a member
        (until a stage says otherwise)."""
        user_id = pending.user_id
        self.sessions.attach(pending)
        self.mixer.inputs[user_id] = self._slots.pop(pending)
        self.fanout.add(user_id, pending.link)
        self.sync(self.stage.with_member(user_id))
        self.mixer.start()  # at the first peer: a room nobody ever joined costs no ticks

    async def discard(self, pending: Pending) -> None:
        self._slots.pop(pending, None)
        await self.sessions.discard(pending)

    def add_edge(self, edge: Address) -> None:
        """Relay the listener mix to an edge from the next tick on."""
        self.fanout.add_edge(edge)
        self.mixer.start()

    def remove_edge(self, edge: Address) -> None:
        self.fanout.edges.discard(edge)

    async def drop(self, user_id: str, reason: DropReason) -> None:
        """Drop a participant whose media is gone; reported if it was still a member (a
        participant that left is not a drop)."""
        if user_id in self.stage.members:
            self.sync(self.stage.without(user_id))
            if self._on_drop is not None:
                self._on_drop(user_id, reason)
        await self.disconnect(user_id)

    def sync(self, stage: Stage) -> None:
        """Apply roles and mutes: N-1 streams for speakers, mix membership, departures."""
        self.stage = stage
        self.fanout.remote = dict(stage.remote)
        self.mixer.set_speakers(list(stage.speakers), list(stage.mixed))
        for user_id in stage.remote:
            if user_id not in self.peers:
                self.mixer.input_for(user_id)
        for user_id in [u for u in self.mixer.inputs if u not in self.peers]:
            if user_id not in stage.remote:
                self.mixer.forget(user_id)
        for user_id in [u for u in self.peers if u not in stage.members]:
            peer = self._detach(user_id)
            if peer is not None:
                self.sessions.close_later(peer)

    # -- the relay: RelayReceiver -----------------------------------------------------------
    def accepts(self, message: RelayMessage, source: Address) -> bool:
        return isinstance(message, Uplink) and source in self.fanout.edges

    def receive(self, message: RelayMessage, source: Address) -> None:
        """A remote speaker's payload, from the edge that carries it, into its mixer slot."""
        assert isinstance(message, Uplink)
        user_id = message.user
        slot = self.mixer.inputs.get(user_id)
        if slot is None or self.stage.remote.get(user_id) != source:
            return
        if user_id in self.mixer.mixed:
            slot.feed(message.payload)
        else:
            slot.received += 1
        if self._on_packets_in is not None:
            self._on_packets_in(1)

    def _detach(self, user_id: str) -> Peer | None:
        peer = self.sessions.detach(user_id)
        if peer is not None:
            self.mixer.forget(user_id)
            self.fanout.remove(user_id)
        return peer

    async def disconnect(self, user_id: str) -> None:
        """Drop a participant's media now (it left, was removed, or its connection died)."""
        peer = self._detach(user_id)
        if peer is not None:
            await self.sessions.close_peer(peer)

    async def close(self) -> None:
        await self.mixer.stop()
        self.fanout.stop()
        await asyncio.gather(*(self.disconnect(u) for u in list(self.peers)))
        await self.sessions.settle()

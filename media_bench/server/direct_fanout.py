"""The ``direct`` design: the tick writes each mix straight to its peers' SRTP sessions.

Every peer's sender reads an ``IdleTrack``; a ``DirectSender`` per peer packetises, protects
and sends. The listener mix goes to every listener when it is delivered, a speaker's N-1 mix
to that speaker when it is published, so each packet leaves within the tick that made it.
"""

from __future__ import annotations

from typing import Any

from media_bench.common.audio import FRAME_SAMPLES
from media_bench.server.direct import DirectSender, IdleTrack, opus_payload_type
from media_bench.server.fanout import PeerLink


class DirectSpeakerStream:
    """One speaker's N-1 stream, sent to that speaker's peer while it is connected."""

    def __init__(self, sender: DirectSender | None) -> None:
        self.sender = sender
        self.sent = 0

    def publish(self, tick: int, item: Any) -> None:
        sender = self.sender
        if sender is not None and sender.send(bytes(item), tick * FRAME_SAMPLES):
            self.sent += 1


class DirectFanOut:
    """``direct``: one encode per mix and tick, written straight to each peer's SRTP session."""

    encoded_listener_mix = True

    def __init__(self) -> None:
        self._senders: dict[str, DirectSender] = {}
        """Every added peer's sender."""
        self._listeners: dict[str, DirectSender] = {}
        """The senders of the peers that hear the listener mix."""
        self._speakers: dict[str, DirectSpeakerStream] = {}
        self._sent = 0

    def new_track(self) -> IdleTrack:
        return IdleTrack()

    def add(self, user_id: str, peer: PeerLink) -> None:
        sender = DirectSender(peer.sender, opus_payload_type(peer.answer_sdp))
        self._senders[user_id] = sender
        stream = self._speakers.get(user_id)
        if stream is None:
            self._listeners[user_id] = sender
        else:
            stream.sender = sender

    def remove(self, user_id: str) -> None:
        self._senders.pop(user_id, None)
        self._listeners.pop(user_id, None)
        stream = self._speakers.get(user_id)
        if stream is not None:
            stream.sender = None

    def open_speaker_stream(self, user_id: str) -> DirectSpeakerStream:
        stream = self._speakers[user_id] = DirectSpeakerStream(self._listeners.pop(user_id, None))
        return stream

    def close_speaker_stream(self, user_id: str) -> None:
        self._sent += self._speakers.pop(user_id).sent
        sender = self._senders.get(user_id)
        if sender is not None:
            self._listeners[user_id] = sender

    def deliver(self, tick: int, item: Any) -> None:
        payload, pts = bytes(item), tick * FRAME_SAMPLES
        sent = 0
        for sender in self._listeners.values():
            if sender.send(payload, pts):
                sent += 1
        self._sent += sent

    def has_listeners(self) -> bool:
        return bool(self._listeners)

    def take_sent(self) -> int:
        sent, self._sent = self._sent, 0
        for stream in self._speakers.values():
            sent += stream.sent
            stream.sent = 0
        return sent

    def stop(self) -> None:
        self._speakers.clear()
        self._listeners.clear()
        self._senders.clear()

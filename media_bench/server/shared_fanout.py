"""The ``shared`` and ``naive`` designs: every peer's aiortc sender reads its stream's items.

Each stream is a ``PacketSource``; each peer's sender reads a ``SourceTrack`` pointed at the
source of its role, switched (at the next tick) when the role changes. ``shared`` publishes
each mix as one Opus packet that every sender only packetises; ``naive`` publishes the
listener mix as PCM, which every listener's sender encodes itself.
"""

from __future__ import annotations

from typing import Any

from media_bench.server.fanout import PeerLink
from media_bench.server.packet_source import PacketSource, SourceTrack


class SharedFanOut:
    """``shared``: one encode per mix and tick, fanned out through aiortc senders."""

    encoded_listener_mix = True

    def __init__(self) -> None:
        self.listener_source = PacketSource()
        self._speaker_sources: dict[str, PacketSource] = {}
        self._tracks: dict[str, SourceTrack] = {}
        self._hearing_mix: set[str] = set()
        """The peers whose tracks read the listener mix."""

    def source_for(self, user_id: str) -> PacketSource:
        """What a participant hears: its N-1 stream if it speaks, else the listener mix."""
        return self._speaker_sources.get(user_id, self.listener_source)

    def new_track(self) -> SourceTrack:
        return SourceTrack(self.listener_source)

    def add(self, user_id: str, peer: PeerLink) -> None:
        if not isinstance(peer.track, SourceTrack):
            raise TypeError(f"{user_id}'s sender reads a {type(peer.track).__name__}")
        self._tracks[user_id] = peer.track
        self._route(user_id)

    def remove(self, user_id: str) -> None:
        self._tracks.pop(user_id, None)
        self._hearing_mix.discard(user_id)

    def open_speaker_stream(self, user_id: str) -> PacketSource:
        source = self._speaker_sources[user_id] = PacketSource()
        self._route(user_id)
        return source

    def close_speaker_stream(self, user_id: str) -> None:
        self._speaker_sources.pop(user_id).close()
        self._route(user_id)

    def _route(self, user_id: str) -> None:
        track = self._tracks.get(user_id)
        if track is None:
            return
        source = self.source_for(user_id)
        track.switch(source)
        if source is self.listener_source:
            self._hearing_mix.add(user_id)
        else:
            self._hearing_mix.discard(user_id)

    def has_listeners(self) -> bool:
        return bool(self._hearing_mix)

    def deliver(self, tick: int, item: Any) -> None:
        self.listener_source.publish(tick, item)

    def take_sent(self) -> int:
        # The tracks count their reads on the source they read (no work per read here).
        sent = self.listener_source.reads
        self.listener_source.reads = 0
        for source in self._speaker_sources.values():
            sent += source.reads
            source.reads = 0
        return sent

    def stop(self) -> None:
        self.listener_source.close()
        for source in self._speaker_sources.values():
            source.close()


class NaiveFanOut(SharedFanOut):
    """``naive``: the listener mix handed over as PCM, encoded by every listener's sender."""

    encoded_listener_mix = False

"""The one interface of the fan-out designs: how a room's mixes reach its peers.

A room has one listener mix, heard by every listener, and one N-1 mix per speaker, heard by
that speaker alone. The mixer (``mixer.RoomMixer``) makes them; a ``FanOutDesign`` delivers
them: it gives each joining peer the track its aiortc sender reads, hears each peer the stream
of its role as roles change, and counts the packets it handed over. The designs, by their
``--fanout`` name (``settings.FanOut``; ``fanout_designs.fanout_design`` builds one):

- ``direct`` (``direct_fanout.DirectFanOut``): each mix encoded once per tick, written by the
  tick itself straight to every peer's SRTP session;
- ``shared`` (``shared_fanout.SharedFanOut``): each mix encoded once per tick, handed to every
  peer's aiortc sender, which packetises and sends it;
- ``naive`` (``shared_fanout.NaiveFanOut``): the listener mix handed over as PCM, each
  listener's aiortc sender encodes it itself (the baseline the benchmark compares against).

An origin wraps its design in ``relay_fanout.RelayedFanOut``, which also relays the encoded
mixes to the room's edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamTrack


class Stream(Protocol):
    """One speaker's N-1 mix as the mixer hands it over, tick by tick."""

    def publish(self, tick: int, item: Any) -> None:
        """The Opus packet of tick ``tick`` (its pts is ``tick * FRAME_SAMPLES``)."""


@dataclass(frozen=True)
class PeerLink:
    """One answered peer, as a design reaches it."""

    track: MediaStreamTrack
    """The track its sender reads: the one ``FanOutDesign.new_track`` made for it."""
    sender: RTCRtpSender
    answer_sdp: str
    """The answer sent to the peer (the payload types negotiated)."""


class FanOutDesign(Protocol):
    """Delivers one room's mixes to its peers."""

    encoded_listener_mix: bool
    """True: ``deliver`` takes the listener mix as one Opus packet per tick; False: as a PCM
    ``av.AudioFrame`` that each listener's sender encodes."""

    def new_track(self) -> MediaStreamTrack:
        """The track a joining peer's sender reads (made before the peer is added)."""

    def add(self, user_id: str, peer: PeerLink) -> None:
        """Deliver to a connected peer from the next tick on: its N-1 mix if it speaks, else
        the listener mix."""

    def remove(self, user_id: str) -> None:
        """Deliver nothing more to a peer (it left; its owner stops its track)."""

    def open_speaker_stream(self, user_id: str) -> Stream:
        """A new N-1 stream, heard by ``user_id`` from the next tick on."""

    def close_speaker_stream(self, user_id: str) -> None:
        """End ``user_id``'s N-1 stream; it hears the listener mix again."""

    def deliver(self, tick: int, item: Any) -> None:
        """The listener mix of tick ``tick``, to every listener."""

    def has_listeners(self) -> bool:
        """Whether any peer hears the listener mix now (if none, the mixer makes none).
        Asked once per tick: an O(1) answer, kept up as peers come, go and change roles."""

    def take_sent(self) -> int:
        """Packets handed to peers (or their senders) since the last call; resets the count."""

    def stop(self) -> None:
        """End every stream (tracks reading them end too)."""

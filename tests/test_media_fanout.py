"""The fan-out designs without the network: who hears which stream, and what they count."""

import asyncio
from typing import Any, ClassVar, get_args

import av

from media_bench.common.audio import FRAME_SAMPLES
from media_bench.server import direct_fanout
from media_bench.server.direct_fanout import DirectFanOut
from media_bench.server.fanout import PeerLink
from media_bench.server.fanout_designs import fanout_design
from media_bench.server.mixer import RoomMixer
from media_bench.server.settings import FanOut
from media_bench.server.shared_fanout import NaiveFanOut, SharedFanOut


def link(track: Any) -> PeerLink:
    no_sender: Any = None
    return PeerLink(track, no_sender, "a=rtpmap:111 opus/48000/2")


def test_every_fanout_name_has_its_design() -> None:
    designs = {name: type(fanout_design(name)) for name in get_args(FanOut)}
    assert designs == {"direct": DirectFanOut, "shared": SharedFanOut, "naive": NaiveFanOut}
    assert not NaiveFanOut.encoded_listener_mix and SharedFanOut.encoded_listener_mix


def test_shared_design_switches_a_peer_with_its_role_and_counts_reads() -> None:
    async def scenario() -> None:
        fanout = SharedFanOut()
        track = fanout.new_track()
        fanout.add("u", link(track))
        fanout.deliver(0, "mix 0")
        assert await track.recv() == "mix 0"
        stream = fanout.open_speaker_stream("u")
        stream.publish(1, "n-1 1")
        fanout.deliver(1, "mix 1")
        assert await track.recv() == "n-1 1"
        assert fanout.take_sent() == 2 and fanout.take_sent() == 0
        fanout.close_speaker_stream("u")
        fanout.deliver(2, "mix 2")
        assert await track.recv() == "mix 2"
        fanout.stop()
        assert fanout.listener_source.closed

    asyncio.run(scenario())


class RecordingSender:
    """Stands in for ``DirectSender``: records what it is asked to send."""

    made: ClassVar[list["RecordingSender"]] = []

    def __init__(self, sender: Any, payload_type: int) -> None:
        self.payload_type = payload_type
        self.sent: list[tuple[bytes, int]] = []
        RecordingSender.made.append(self)

    def send(self, payload: bytes, pts: int) -> bool:
        self.sent.append((payload, pts))
        return True


def test_direct_design_sends_each_peer_the_stream_of_its_role(monkeypatch) -> None:
    monkeypatch.setattr(direct_fanout, "DirectSender", RecordingSender)
    monkeypatch.setattr(RecordingSender, "made", [])
    fanout = DirectFanOut()
    for user in ("listener", "speaker"):
        fanout.add(user, link(fanout.new_track()))
    senders = dict(zip(("listener", "speaker"), RecordingSender.made, strict=True))
    stream = fanout.open_speaker_stream("speaker")
    stream.publish(1, b"n-1")
    fanout.deliver(1, b"mix")
    fanout.close_speaker_stream("speaker")
    fanout.deliver(2, b"mix")
    assert senders["listener"].payload_type == 111
    assert senders["listener"].sent == [(b"mix", FRAME_SAMPLES), (b"mix", 2 * FRAME_SAMPLES)]
    assert senders["speaker"].sent == [(b"n-1", FRAME_SAMPLES), (b"mix", 2 * FRAME_SAMPLES)]
    assert fanout.take_sent() == 4 and fanout.take_sent() == 0
    fanout.remove("listener")
    fanout.deliver(3, b"mix")
    assert len(senders["listener"].sent) == 2 and fanout.take_sent() == 1


class RecordingDesign(SharedFanOut):
    """A shared design that also records what the mixer hands it."""

    def __init__(self, encoded: bool) -> None:
        super().__init__()
        self.encoded_listener_mix = encoded
        self.delivered: list[tuple[int, Any]] = []
        self.streams: list[tuple[str, str]] = []

    def deliver(self, tick: int, item: Any) -> None:
        self.delivered.append((tick, item))

    def has_listeners(self) -> bool:
        return True  # the recording listens

    def open_speaker_stream(self, user_id: str) -> Any:
        self.streams.append(("open", user_id))
        return super().open_speaker_stream(user_id)

    def close_speaker_stream(self, user_id: str) -> None:
        self.streams.append(("close", user_id))
        super().close_speaker_stream(user_id)


def test_the_mixer_hands_its_design_packets_or_for_naive_frames() -> None:
    for encoded, kind in ((True, av.Packet), (False, av.AudioFrame)):
        design = RecordingDesign(encoded)
        mixer = RoomMixer(design)
        mixer.set_speakers(["a"], ["a"])
        for k in range(5):
            mixer.tick(k)
        mixer.set_speakers([], [])
        assert design.streams == [("open", "a"), ("close", "a")]
        assert design.delivered and all(isinstance(item, kind) for _, item in design.delivered)
        assert [item.pts for _, item in design.delivered] == [
            tick * FRAME_SAMPLES for tick, _ in design.delivered
        ]

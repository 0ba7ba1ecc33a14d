"""A listener whose socket failed and whose ICE pair is gone is skipped by the direct
fan-out, not a crash of the room's mixer tick (which would silence the whole room)."""

from __future__ import annotations

from typing import Any

from media_bench.common.aiortc_internals import RTP_COMPONENT
from media_bench.server.direct import DirectSender


class Protect:
    capacity = 1500

    def __init__(self) -> None:
        self.buffer = bytearray(self.capacity)

    def __call__(self, end: int) -> bytes:
        return bytes(self.buffer[:end])


class Socket:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.sent: list[bytes] = []

    def sendto(self, packet: bytes, address: Any) -> None:
        if self.fail:
            raise OSError("the peer's socket is closed")
        self.sent.append(packet)


def sender(nominated: dict[int, Any], sock: Socket) -> DirectSender:
    """A sender past its handshake, routed on ``sock`` (aiortc's objects left out; the
    pure-Python send, whose socket a fake can stand in for)."""
    out = DirectSender.__new__(DirectSender)
    pair = nominated.get(RTP_COMPONENT)
    for name, value in {"_connected": lambda: True, "_protect": Protect(), "_payload_type": 111,
                        "_ssrc": 1, "_nominated": nominated, "_pair": pair, "_send": sock.sendto,
                        "_address": ("127.0.0.1", 9), "_sequence": 0, "_origin": 0,
                        "_native": None, "_handles": (0, 0, 0)}.items():
        setattr(out, name, value)
    return out


def test_a_send_after_the_socket_failed_and_the_pair_went_is_dropped() -> None:
    nominated: dict[int, Any] = {RTP_COMPONENT: object()}
    broken = sender(nominated, Socket(fail=True))
    assert broken.send(b"opus", 960) is False  # the socket failed: dropped, socket forgotten
    nominated.clear()  # the peer is closing: no nominated pair any more
    assert broken.send(b"opus", 1920) is False
    assert broken.send(b"opus", 2880) is False


def test_a_healthy_sender_sends() -> None:
    sock = Socket(fail=False)
    assert sender({RTP_COMPONENT: object()}, sock).send(b"opus", 960) is True
    assert len(sock.sent) == 1 and sock.sent[0].endswith(b"opus")

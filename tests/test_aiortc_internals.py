"""Each private part of aiortc (and aioice, asyncio) that the project relies on, checked on a
real pair of peer connections over loopback; and a missing one named with aiortc's version."""

import asyncio
import inspect
import shutil
import socket
import types
from collections.abc import Callable
from typing import Any

import aioice.ice
import aiortc
import aiortc.rtcrtpreceiver
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack

from media_bench.common import aiortc_internals as internals
from media_bench.common.aiortc_internals import AiortcInternalsChanged
from media_bench.server.fast_send import NOT_PROTECTED, SENT, native_send, sockaddr

pytestmark = pytest.mark.timeout(60)
receiver_module: Any = aiortc.rtcrtpreceiver


def ns(**attributes: Any) -> Any:
    """An object with only these attributes (typed Any: it stands in for aiortc's objects)."""
    return types.SimpleNamespace(**attributes)


async def ignore(packet: Any, arrival_time_ms: int = 0) -> None:
    pass


def onward(data: bytes, addr: Any, send: Callable[[bytes, Any], None]) -> None:
    send(data, addr)


MISSING: dict[str, tuple[Callable[[], object], str]] = {
    "sender_ssrc": (lambda: internals.sender_ssrc(ns()), "_ssrc"),
    "outbound_srtp": (lambda: internals.outbound_srtp(ns()), "_tx_srtp"),
    "inbound_srtp": (lambda: internals.inbound_srtp(ns()), "_rx_srtp"),
    "dtls_connected_check": (
        lambda: internals.dtls_connected_check(aiortc.RTCDtlsTransport.__new__(
            aiortc.RTCDtlsTransport)), "_state"
    ),
    "nominated_pairs": (
        lambda: internals.nominated_pairs(ns(transport=ns(_connection=ns()))), "_nominated"
    ),
    "ice_protocols": (lambda: internals.ice_protocols(ns(transport=ns())), "_connection"),
    "replace_rtp_handler": (
        lambda: internals.replace_rtp_handler(ns(), ignore), "_handle_rtp_packet"
    ),
    "udp_socket": (lambda: internals.udp_socket(ns(transport=ns())), "_sock"),
    "datagram_send": (lambda: internals.datagram_send(ns(transport=ns())), "sendto"),
    "socket_fd": (lambda: internals.socket_fd(ns(transport=None)), "transport socket"),
    "pause_transport_reading": (
        lambda: internals.pause_transport_reading(ns(transport=ns())), "pause_reading"
    ),
    "limit_datagram_reads": (
        lambda: internals.limit_datagram_reads(ns(transport=ns()), 2048), "max_size"
    ),
    "before_connection_lost": (
        lambda: internals.before_connection_lost(ns(), lambda: None), "connection_lost"
    ),
    "filter_sends": (
        lambda: internals.filter_sends(ns(transport=ns()), lambda data: True), "sendto"
    ),
    "route_sends": (lambda: internals.route_sends(ns(transport=ns()), onward), "sendto"),
    "route_receives": (lambda: internals.route_receives(ns(), onward), "datagram_received"),
    "blackhole": (
        lambda: internals.blackhole(ns(transport=ns(pause_reading=lambda: None))), "sendto"
    ),
    "check_consent": (
        lambda: internals.check_consent(ns(transport=ns(_connection=ns())), 1.0, 3, print),
        "query_consent",
    ),
}
"""Per function of the module: a call on objects that lack what it relies on, and the
attribute the error must name (``patch_receiver_threading`` has a test of its own)."""


def test_every_function_of_the_module_is_checked_here() -> None:
    functions = {
        name
        for name, value in vars(internals).items()
        if inspect.isfunction(value) and value.__module__ == internals.__name__
        and not name.startswith("_")
    }
    assert functions == {*MISSING, "patch_receiver_threading", "host_addresses_only"}


@pytest.mark.parametrize("name", sorted(MISSING))
def test_a_missing_private_part_is_named_with_aiortcs_version(name: str) -> None:
    call, attribute = MISSING[name]
    with pytest.raises(AiortcInternalsChanged) as raised:
        call()
    message = str(raised.value)
    assert raised.value.attribute == attribute
    assert repr(attribute) in message and f"aiortc {aiortc.__version__}" in message


def test_a_replaced_attribute_must_exist_before() -> None:
    receiver = ns()
    with pytest.raises(AiortcInternalsChanged):
        internals.replace_rtp_handler(receiver, ignore)
    assert not hasattr(receiver, "_handle_rtp_packet"), "a renamed hook would be set in vain"


def test_patching_the_receiver_threads_checks_the_decoder_worker(monkeypatch) -> None:
    monkeypatch.setattr(receiver_module, "threading", receiver_module.threading)  # restored
    monkeypatch.setattr(receiver_module, "queue", receiver_module.queue)
    threading, queue = ns(Thread=None, Event=None), ns(Queue=None)
    internals.patch_receiver_threading(threading, queue)
    assert receiver_module.threading is threading and receiver_module.queue is queue

    monkeypatch.setattr(receiver_module, "decoder_worker", lambda loop, input_q, output_q: None)
    with pytest.raises(AiortcInternalsChanged, match=r"decoder_worker.*aiortc \d"):
        internals.patch_receiver_threading(ns(), ns())
    assert receiver_module.threading is threading, "nothing patched on a mismatch"

    monkeypatch.delattr(receiver_module, "decoder_worker")
    with pytest.raises(AiortcInternalsChanged, match="decoder_worker"):
        internals.patch_receiver_threading(ns(), ns())


async def connected_pair(
    on_receiver: Any, on_answer: Callable[[RTCPeerConnection], None] | None = None
) -> tuple[RTCPeerConnection, RTCPeerConnection]:
    """A caller sending silence to a callee, both connected over loopback; ``on_answer`` gets
    the callee once it answered, before ICE completes."""
    caller = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    callee = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    caller.addTrack(AudioStreamTrack())

    @callee.on("track")
    def on_track(track: Any) -> None:
        for transceiver in callee.getTransceivers():
            if transceiver.receiver.track is track:
                on_receiver(transceiver.receiver)

    await caller.setLocalDescription(await caller.createOffer())
    await callee.setRemoteDescription(caller.localDescription)
    await callee.setLocalDescription(await callee.createAnswer())
    if on_answer is not None:
        on_answer(callee)
    await caller.setRemoteDescription(callee.localDescription)
    for _ in range(200):
        if caller.connectionState == callee.connectionState == "connected":
            return caller, callee
        await asyncio.sleep(0.05)
    raise TimeoutError(f"not connected: {caller.connectionState}/{callee.connectionState}")


def check_native_send(in_place: internals.InPlaceProtect, fd: int, inbound: Any) -> None:
    """The compiled send packs, protects in place (through the handles ``InPlaceProtect``
    gives it) and sends from the ICE socket: the far end's session reads what was packed."""
    send = native_send()
    if shutil.which("cc") is not None:
        assert send is not None, "a C compiler is here, so pip install must have built it"
    if send is None:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as far:
        far.bind(("127.0.0.1", 0))
        far.settimeout(2.0)
        routine, context, buffer = in_place.native_handles()
        outcome = send(fd, sockaddr(far.getsockname()), routine, context, buffer,
                       in_place.capacity, 111, 3, 0xFFFFFFFF, 0x1234ABCD, b"opus")  # fmt: skip
        assert outcome == SENT
        plain = inbound.unprotect(far.recv(2048))
        assert plain == bytes([0x80, 111, 0, 3]) + (0xFFFFFFFF).to_bytes(4) + (
            0x1234ABCD).to_bytes(4) + b"opus"  # fmt: skip
        too_long = bytes(in_place.capacity)
        assert send(fd, sockaddr(far.getsockname()), routine, context, buffer,
                    in_place.capacity, 111, 4, 0, 1, too_long) == NOT_PROTECTED  # fmt: skip


def test_each_private_part_works_on_real_peer_connections() -> None:
    async def scenario() -> None:
        packets: list[Any] = []
        replaced: list[Any] = []

        async def on_rtp(packet: Any, arrival_time_ms: int = 0) -> None:
            packets.append(packet)

        def hook(receiver: Any) -> None:
            replaced.append((receiver, internals.replace_rtp_handler(receiver, on_rtp)))

        caller, callee = await connected_pair(hook)
        try:
            sender = caller.getSenders()[0]
            ssrc = internals.sender_ssrc(sender)
            assert f"a=ssrc:{ssrc} " in caller.localDescription.sdp

            # The hook gets the caller's packets, and hands back aiortc's own handler.
            for _ in range(100):
                if packets:
                    break
                await asyncio.sleep(0.02)
            assert packets and packets[0].ssrc == ssrc
            (receiver, original), = replaced
            assert original.__self__ is receiver and original.__name__ == "_handle_rtp_packet"

            # The two SRTP sessions are the two ends of one keying.
            outbound = internals.outbound_srtp(sender.transport)
            inbound = internals.inbound_srtp(receiver.transport)
            assert outbound is not None and inbound is not None
            plain = bytes([0x80, 111, 0, 1, 0, 0, 0, 0]) + (ssrc ^ 1).to_bytes(4) + b"opus"
            assert inbound.unprotect(outbound.protect(plain)) == plain

            # In place, libsrtp makes what pylibsrtp makes, and the far end reads it.
            in_place = internals.InPlaceProtect(outbound)
            follow = bytes([0x80, 111, 0, 2]) + plain[4:]
            in_place.buffer[: len(follow)] = follow
            protected = in_place(len(follow))
            assert protected is not None and inbound.unprotect(bytes(protected)) == follow
            assert len(protected) > len(follow)  # the authentication tag
            assert in_place(4) is None, "libsrtp refuses what is shorter than an RTP header"
            connected = internals.dtls_connected_check(sender.transport)
            assert connected()

            # The nominated pair is live and rides on one of the connection's protocols.
            pair = internals.nominated_pairs(sender.transport).get(internals.RTP_COMPONENT)
            assert pair is not None and pair.protocol.transport is not None
            assert pair.protocol in internals.ice_protocols(sender.transport)
            host, port = pair.remote_addr[:2]
            assert isinstance(host, str) and isinstance(port, int)

            protocol: Any = pair.protocol
            sock = internals.udp_socket(protocol)
            assert isinstance(sock, socket.socket)
            assert sock.getsockname() == protocol.transport.get_extra_info("sockname")
            assert internals.socket_fd(protocol) == sock.fileno()
            assert internals.datagram_send(protocol) == sock.sendto
            check_native_send(in_place, internals.socket_fd(protocol), inbound)
            internals.limit_datagram_reads(protocol, 2048)
            assert protocol.transport.max_size == 2048
            internals.pause_transport_reading(protocol)
            assert not protocol.transport.is_reading()
            lost: list[bool] = []
            internals.before_connection_lost(protocol, lambda: lost.append(True))

            # A blackholed socket sends nothing more: the callee hears no more packets.
            internals.blackhole(protocol)
            await asyncio.sleep(0.1)
            heard = len(packets)
            await asyncio.sleep(0.3)
            assert len(packets) == heard
        finally:
            await caller.close()
            await callee.close()
        assert not connected()
        for _ in range(50):
            if lost:
                break
            await asyncio.sleep(0.02)
        assert lost, "the callback ran when the socket closed"

    asyncio.run(scenario())


def test_candidates_are_gathered_on_the_given_addresses_only_inside_the_block() -> None:
    async def host_candidates() -> set[str]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("audio")
        await pc.setLocalDescription(await pc.createOffer())
        await pc.close()
        lines = pc.localDescription.sdp.splitlines()
        return {line.split()[4] for line in lines if line.startswith("a=candidate:")}

    everywhere = asyncio.run(host_candidates())
    with internals.host_addresses_only(["127.0.0.1"]):
        assert asyncio.run(host_candidates()) == {"127.0.0.1"}
    assert asyncio.run(host_candidates()) == everywhere != {"127.0.0.1"}


def test_consent_checks_must_read_aioices_module_globals() -> None:
    class Connection:
        async def query_consent(self) -> None:
            pass

    connection = Connection()
    with pytest.raises(AiortcInternalsChanged, match=r"'CONSENT_INTERVAL'.*aiortc \d") as raised:
        internals.check_consent(ns(transport=ns(_connection=connection)), 1.0, 3, print)
    assert raised.value.attribute == "CONSENT_INTERVAL"
    assert "query_consent" not in vars(connection), "nothing patched on a mismatch"


def test_quicker_consent_checks_expire_one_connection_only() -> None:
    async def scenario() -> None:
        expired: list[float] = []

        def quicken(callee: RTCPeerConnection) -> None:
            transport = callee.getTransceivers()[0].receiver.transport
            internals.check_consent(transport, 0.2, 2, lambda: expired.append(loop.time()))

        loop = asyncio.get_running_loop()
        caller, callee = await connected_pair(lambda receiver: None, quicken)
        try:
            caller_transport = caller.getTransceivers()[0].receiver.transport
            caller_connection = caller_transport.transport._connection
            assert "query_consent" not in vars(caller_connection), "the caller keeps aioice's"
            await asyncio.sleep(1.0)
            assert not expired, "an answering peer keeps its consent"

            stopped = loop.time()
            for protocol in internals.ice_protocols(caller_transport):
                internals.pause_transport_reading(protocol)
            while not expired and loop.time() - stopped < 5:
                await asyncio.sleep(0.05)
            assert expired and expired[0] - stopped < 3  # two checks missed: 1.5 s at most
            for _ in range(50):
                if callee.connectionState in ("failed", "closed"):
                    break
                await asyncio.sleep(0.02)
            assert callee.connectionState in ("failed", "closed")
            assert caller.connectionState == "connected", "aioice's own checks take 30 s"
            assert aioice.ice.CONSENT_INTERVAL == 5 and aioice.ice.CONSENT_FAILURES == 6
        finally:
            await caller.close()
            await callee.close()

    asyncio.run(scenario())


def test_routed_datagrams_reach_the_peer_later_or_never() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        heard: list[float] = []

        async def on_rtp(packet: Any, arrival_time_ms: int = 0) -> None:
            heard.append(loop.time())

        caller, callee = await connected_pair(
            lambda receiver: internals.replace_rtp_handler(receiver, on_rtp))
        try:
            await asyncio.sleep(0.2)
            routed: list[bytes] = []

            def later(data: bytes, addr: Any, send: Callable[[bytes, Any], None]) -> None:
                routed.append(data)
                loop.call_later(0.3, send, data, addr)

            callee_transport = callee.getTransceivers()[0].receiver.transport
            for protocol in internals.ice_protocols(callee_transport):
                internals.route_receives(protocol, later)
            routed_from = loop.time()
            await asyncio.sleep(0.6)
            assert routed, "what asyncio read went through the route"
            after = [t for t in heard if t > routed_from]
            assert after and after[0] - routed_from > 0.25, "and reached aiortc 0.3 s later"
            assert callee.connectionState == "connected"

            caller_transport = caller.getTransceivers()[0].sender.transport
            for protocol in internals.ice_protocols(caller_transport):
                internals.route_sends(protocol, lambda data, addr, send: None)
            await asyncio.sleep(0.5)  # what was on its way has arrived
            count = len(heard)
            await asyncio.sleep(0.3)
            assert len(heard) == count, "a route that hands nothing on sends nothing"
        finally:
            await caller.close()
            await callee.close()

    asyncio.run(scenario())

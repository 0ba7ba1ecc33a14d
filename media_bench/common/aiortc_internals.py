"""Every reach into aiortc's (and aioice's, asyncio's) private parts, in one place.

The server's direct fan-out, its receive hook, its consent checks, the client bots' socket
readers, the load generator's impairment stage and the load tests' decoder threads use parts
of aiortc that are not its API. Each
such part is one small function here whose docstring names what it relies on; callers use
only these functions. The versions they were written against are pinned in
``pyproject.toml`` (aiortc 1.16, aioice 0.13), and ``tests/test_aiortc_internals.py`` checks
each of them on real aiortc objects.

A missing attribute raises ``AiortcInternalsChanged`` naming it and the installed versions.
None of these functions is meant to run per packet: callers resolve what they need once per
session (bound methods, the live objects) and keep it. What does run per packet was built
for it: the check ``dtls_connected_check`` returns and ``InPlaceProtect``'s call.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import socket
import sys
import types
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aioice.ice import CandidatePair, StunProtocol
    from aiortc import RTCDtlsTransport, RTCRtpReceiver, RTCRtpSender
    from aiortc.rtp import RtpPacket
    from pylibsrtp import Session

RtpHandler = Callable[["RtpPacket", int], Awaitable[None]]
"""What aiortc's DTLS transport awaits per routed RTP packet: ``(packet, arrival_time_ms)``."""
RTP_COMPONENT = 1
"""The ICE component that carries RTP (and, muxed, RTCP)."""


def _versions() -> str:
    found = []
    for package in ("aiortc", "aioice"):
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return ", ".join([*found, f"Python {sys.version.split()[0]}"])


class AiortcInternalsChanged(AttributeError):
    """A private attribute this module relies on is not there (aiortc or aioice changed)."""

    def __init__(self, owner: object, attribute: str, problem: str = "is missing") -> None:
        owner_name = getattr(owner, "__name__", None) or type(owner).__qualname__
        super().__init__(
            f"{owner_name} attribute {attribute!r} {problem} ({_versions()}): "
            "media_bench.common.aiortc_internals needs updating for this version",
            name=attribute,
            obj=owner,
        )
        self.attribute = attribute


def _get(owner: object, attribute: str) -> Any:
    try:
        return getattr(owner, attribute)
    except AttributeError:
        raise AiortcInternalsChanged(owner, attribute) from None


def _replace(owner: object, attribute: str, value: object) -> Any:
    """Set an attribute that must already exist (setting a renamed one would change nothing)."""
    original = _get(owner, attribute)
    setattr(owner, attribute, value)
    return original


# -- sending: the direct fan-out ---------------------------------------------------------------
def sender_ssrc(sender: RTCRtpSender) -> int:
    """The SSRC the sender announced in its description.

    Relies on ``RTCRtpSender._ssrc`` (drawn once, in ``__init__``).
    """
    ssrc: int = _get(sender, "_ssrc")
    return ssrc


def outbound_srtp(dtls: RTCDtlsTransport) -> Session | None:
    """The transport's SRTP session for what it sends, or None before the DTLS handshake.

    Relies on ``RTCDtlsTransport._tx_srtp``: set once when the handshake completes, never
    replaced, so a caller may keep it once it is not None.
    """
    session: Session | None = _get(dtls, "_tx_srtp")
    return session


def dtls_connected_check(dtls: RTCDtlsTransport) -> Callable[[], bool]:
    """A per-packet check that the DTLS transport is connected.

    ``RTCDtlsTransport.state`` formats its enum as a string on every read (~1 us); this
    compares the enum itself. Relies on ``RTCDtlsTransport._state`` and aiortc's ``State``.
    """
    connected = _get(_get(sys.modules[type(dtls).__module__], "State"), "CONNECTED")
    _get(dtls, "_state")
    return lambda: dtls._state is connected


SRTP_PACKET_CAPACITY = 1500
"""Bytes of an in-place protector's buffer, as pylibsrtp's own."""


class InPlaceProtect:
    """SRTP protect for one outbound session, on packets the caller writes into ``buffer``.

    pylibsrtp's ``Session.protect`` allocates a length cell, copies the packet into its buffer
    and slices a copy back out on every call: 3.3 us a packet on this machine, against 1.2 us
    for libsrtp's ``srtp_protect`` on a buffer filled in place. Relies on pylibsrtp's
    ``Session._srtp`` (the ``srtp_t`` cell; the session is kept alive here, as freeing it frees
    the context) and on its cffi binding ``pylibsrtp._binding`` (``ffi``, ``lib``).
    """

    def __init__(self, session: Session) -> None:
        binding = importlib.import_module("pylibsrtp._binding")
        ffi, lib = _get(binding, "ffi"), _get(binding, "lib")
        self._session = session
        self._context = _get(session, "_srtp")[0]
        self._srtp_protect = _get(lib, "srtp_protect")
        self._cells = ffi.new("unsigned char[]", SRTP_PACKET_CAPACITY)
        self._length = ffi.new("int *")
        self.buffer = memoryview(ffi.buffer(self._cells))
        """Where the caller writes the plain RTP packet (header, then payload)."""
        self.capacity = SRTP_PACKET_CAPACITY - _get(
            importlib.import_module("pylibsrtp"), "SRTP_MAX_TRAILER_LEN"
        )
        """The longest plain packet ``buffer`` takes: the rest is room for the trailer."""

    def native_handles(self) -> tuple[int, int, int]:
        """(address of libsrtp's ``srtp_protect``, of this session's ``srtp_t``, of ``buffer``)
        for native code that protects in place the way ``__call__`` does (libsrtp 2's
        ``srtp_protect(srtp_t, void *, int *)``); valid while this object lives."""
        binding = importlib.import_module("pylibsrtp._binding")
        ffi, lib = _get(binding, "ffi"), _get(binding, "lib")
        return (
            int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect"))),
            int(ffi.cast("uintptr_t", self._context)),
            int(ffi.cast("uintptr_t", self._cells)),
        )

    def __call__(self, length: int) -> memoryview | None:
        """Protect the ``length`` plain bytes at the start of ``buffer``; the protected packet
        (a view of ``buffer``, valid until the next call), or None when libsrtp refused it."""
        self._length[0] = length
        if self._srtp_protect(self._context, self._cells, self._length) != 0:
            return None
        return self.buffer[: self._length[0]]


def nominated_pairs(dtls: RTCDtlsTransport) -> dict[int, CandidatePair]:
    """The live map of ICE component to nominated candidate pair under a DTLS transport.

    The map is the same object for the connection's lifetime (emptied when it closes), so a
    caller may keep it and look up ``RTP_COMPONENT`` per packet; each pair's ``protocol``
    (its ``transport``, None once closed) and ``remote_addr`` are aioice's public attributes.
    Relies on ``RTCIceTransport._connection`` (the aioice ``Connection``) and
    ``Connection._nominated``.
    """
    connection = _get(dtls.transport, "_connection")
    pairs: dict[int, CandidatePair] = _get(connection, "_nominated")
    return pairs


# -- ICE consent freshness: the server's peers -------------------------------------------------
CONSENT_GLOBALS = ("CONSENT_INTERVAL", "CONSENT_FAILURES")
"""The module globals aioice's ``Connection.query_consent`` reads: seconds between consent
checks (each drawn from 0.8 to 1.2 times it), unanswered checks in a row before it closes."""


def check_consent(
    dtls: RTCDtlsTransport, interval: float, failures: int, on_expired: Callable[[], None]
) -> None:
    """Make the ICE connection under a transport check its peer's consent (RFC 7675) every
    ``interval`` seconds (0.8 to 1.2 times it, each check answered within 0.5 s or missed)
    and, after ``failures`` missed in a row, call ``on_expired`` and close: its transports
    then fail or close. Other connections keep aioice's 5 s and 6. Call it before ICE
    completes (the checks start then).

    Relies on ``RTCIceTransport._connection`` and on aioice's ``Connection.connect`` starting
    ``self.query_consent()`` (looked up on the instance) which returns only once it closed the
    connection for lack of consent, and reads the module globals ``CONSENT_GLOBALS``: this
    connection gets the same function run with its own values for them.
    """
    connection = _get(dtls.transport, "_connection")
    method = _consent_method(_get(type(connection), "query_consent"), interval, failures)

    async def query_consent() -> None:
        await method(connection)
        # aioice closed the connection without awaiting after its events (0.13): nothing has
        # reacted to them yet
        on_expired()

    _replace(connection, "query_consent", query_consent)


@functools.cache
def _consent_method(
    query_consent: types.FunctionType, interval: float, failures: int
) -> types.FunctionType:
    module = sys.modules.get(query_consent.__module__, query_consent)
    for name in CONSENT_GLOBALS:
        if name not in query_consent.__code__.co_names or name not in query_consent.__globals__:
            raise AiortcInternalsChanged(module, name, "is not read by Connection.query_consent")
    # a copy of aioice.ice's namespace, taken once: nothing else in it is ever reassigned
    namespace = {**query_consent.__globals__, "CONSENT_INTERVAL": interval}
    namespace["CONSENT_FAILURES"] = failures
    method = types.FunctionType(
        query_consent.__code__,
        namespace,
        query_consent.__name__,
        query_consent.__defaults__,
        query_consent.__closure__,
    )
    method.__qualname__ = query_consent.__qualname__
    return method


# -- receiving: the server's speaker input and the client bots -------------------------------
def inbound_srtp(dtls: RTCDtlsTransport) -> Session | None:
    """The transport's SRTP session for what it receives, or None before the DTLS handshake.

    Relies on ``RTCDtlsTransport._rx_srtp``: set once when the handshake completes, never
    replaced, so a caller may keep it once it is not None.
    """
    session: Session | None = _get(dtls, "_rx_srtp")
    return session


def replace_rtp_handler(receiver: RTCRtpReceiver, handler: RtpHandler) -> RtpHandler:
    """Make the DTLS transport hand this receiver's RTP packets to ``handler``; returns the
    handler it replaced (aiortc's own path: jitter buffer, decoder thread).

    Relies on ``RTCDtlsTransport`` awaiting ``receiver._handle_rtp_packet(packet,
    arrival_time_ms=...)`` for each routed packet, looked up on the receiver instance.
    """
    original: RtpHandler = _replace(receiver, "_handle_rtp_packet", handler)
    return original


def ice_protocols(dtls: RTCDtlsTransport) -> list[StunProtocol]:
    """The UDP protocols (one per local candidate) of the ICE connection under a transport.

    Relies on ``RTCIceTransport._connection`` and aioice's ``Connection._protocols``.
    """
    connection = _get(dtls.transport, "_connection")
    protocols: list[StunProtocol] = list(_get(connection, "_protocols"))
    return protocols


def udp_socket(protocol: StunProtocol) -> socket.socket:
    """The OS socket under an ICE protocol's asyncio transport, for reading it directly.

    Relies on asyncio's selector datagram transport keeping its socket in ``_sock`` and, in a
    gevent-patched process, on gevent's socket keeping the OS socket in ``_sock``.
    """
    sock = _get(protocol.transport, "_sock")
    unwrapped: socket.socket = getattr(sock, "_sock", sock)
    return unwrapped


def datagram_send(protocol: StunProtocol) -> Callable[[Any, Any], Any]:
    """The cheapest way to send a datagram on an ICE protocol's socket: the OS socket's own
    ``sendto`` under asyncio's selector loop (no transport bookkeeping; raises BlockingIOError
    when the socket is full), else the transport's ``sendto`` (uvloop's, written in C: it sends
    at once and queues what the socket cannot take)."""
    transport = protocol.transport
    if hasattr(transport, "_sock"):
        return udp_socket(protocol).sendto
    send: Callable[[Any, Any], Any] = _get(transport, "sendto")
    return send


def socket_fd(protocol: StunProtocol) -> int:
    """The file descriptor of an ICE protocol's UDP socket, whichever loop made its transport
    (uvloop's ``get_extra_info("socket")`` is a stand-in that still knows its ``fileno``)."""
    sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
    if sock is None:
        raise AiortcInternalsChanged(protocol, "transport socket")
    fd: int = sock.fileno()
    return fd


def pause_transport_reading(protocol: StunProtocol) -> None:
    """Stop asyncio reading an ICE protocol's socket (its reader now belongs to the caller).

    Relies on asyncio's selector datagram transport having ``pause_reading`` (a read transport
    method, not part of ``DatagramTransport``'s documented API).
    """
    _get(protocol.transport, "pause_reading")()


def limit_datagram_reads(protocol: StunProtocol, size: int) -> None:
    """Read an ICE protocol's datagrams into buffers of ``size`` bytes (asyncio allocates its
    default 256 KiB per datagram).

    Relies on asyncio's selector datagram transport reading ``max_size`` bytes per datagram.
    """
    _replace(protocol.transport, "max_size", size)


def before_connection_lost(protocol: StunProtocol, callback: Callable[[], None]) -> None:
    """Run ``callback`` when an ICE protocol's socket closes, before aioice handles it.

    Relies on asyncio calling ``protocol.connection_lost(exc)``, looked up on the instance.
    """
    original: Callable[[Exception | None], None] = _get(protocol, "connection_lost")

    def connection_lost(exc: Exception | None) -> None:
        callback()
        original(exc)

    _replace(protocol, "connection_lost", connection_lost)


Route = Callable[[bytes, Any, Callable[[bytes, Any], None]], None]
"""Where an ICE protocol's datagrams go first: ``route(data, addr, onward)`` calls ``onward(data,
addr)`` now, later (from the loop) or never. ``onward`` ignores a datagram once the socket is
closing, so a delayed one may outlive its peer."""


def route_sends(protocol: StunProtocol, route: Route) -> None:
    """Hand every datagram an ICE protocol would send through its socket to ``route``, with
    the socket's send as ``onward``: an impairment stage, a fault test's filter.

    Relies on aioice sending through ``protocol.transport.sendto(data, addr)`` (asyncio's
    selector datagram transport), looked up on the transport instance.
    """
    transport = protocol.transport
    send: Callable[[bytes, Any], None] = _get(transport, "sendto")

    def onward(data: bytes, addr: Any) -> None:
        if not transport.is_closing():
            send(data, addr)

    def sendto(data: bytes, addr: Any = None) -> None:
        route(data, addr, onward)

    _replace(transport, "sendto", sendto)


def route_receives(protocol: StunProtocol, route: Route) -> None:
    """Hand every datagram asyncio reads from an ICE protocol's socket to ``route``, with
    aioice's own handling (STUN, else DTLS/SRTP up to aiortc) as ``onward``.

    Relies on asyncio's selector datagram transport calling
    ``protocol.datagram_received(data, addr)``, looked up on the protocol instance. Datagrams
    the caller reads from the socket itself (``udp_socket``) never pass here.
    """
    deliver: Callable[[bytes, Any], None] = _get(protocol, "datagram_received")

    def onward(data: bytes, addr: Any) -> None:
        if protocol.transport is not None and not protocol.transport.is_closing():
            deliver(data, addr)

    def datagram_received(data: bytes, addr: Any) -> None:
        route(data, addr, onward)

    _replace(protocol, "datagram_received", datagram_received)


def filter_sends(protocol: StunProtocol, keep: Callable[[bytes], bool]) -> None:
    """Send through an ICE protocol's socket only the datagrams ``keep`` accepts: for fault
    tests (packet loss, a peer that vanished). Relies on what ``route_sends`` relies on.
    """

    def route(data: bytes, addr: Any, onward: Callable[[bytes, Any], None]) -> None:
        if keep(data):
            onward(data, addr)

    route_sends(protocol, route)


def blackhole(protocol: StunProtocol) -> None:
    """Make an ICE protocol's socket neither read nor send any more, as if its process had
    vanished (no DTLS close, no ICE goodbye): for fault tests. Relies on what
    ``pause_transport_reading`` and ``filter_sends`` rely on.
    """
    pause_transport_reading(protocol)
    filter_sends(protocol, lambda data: False)


# -- decoding threads: the load tests ---------------------------------------------------------
RECEIVER_DECODER_ARGUMENTS = ("loop", "input_q", "output_q", "decode_error")
"""The arguments ``aiortc.rtcrtpreceiver`` starts its decoder thread with, in order."""


def patch_receiver_threading(threading: Any, queue: Any) -> None:
    """Make every ``RTCRtpReceiver`` created from now on start its decoder through
    ``threading.Thread(target=decoder_worker, name=..., args=RECEIVER_DECODER_ARGUMENTS)``,
    flag errors with ``threading.Event()`` and queue encoded frames into ``queue.Queue()``
    (``put((codec, frame))``, ``put(None)`` at the end).

    Relies on ``aiortc.rtcrtpreceiver`` looking up its module globals ``threading`` and
    ``queue`` at call time and on ``decoder_worker``'s arguments.
    """
    import inspect

    import aiortc.rtcrtpreceiver as receiver_module

    worker = _get(receiver_module, "decoder_worker")
    arguments = tuple(inspect.signature(worker).parameters)
    if arguments != RECEIVER_DECODER_ARGUMENTS:
        expected = RECEIVER_DECODER_ARGUMENTS
        raise AiortcInternalsChanged(
            receiver_module, "decoder_worker", f"takes {arguments}, not {expected}"
        )
    _replace(receiver_module, "threading", threading)
    _replace(receiver_module, "queue", queue)


# -- candidates: peers of a server in a network namespace ---------------------------------------
@contextlib.contextmanager
def host_addresses_only(addresses: Sequence[str]) -> Iterator[None]:
    """Gather ICE host candidates on ``addresses`` only, for peers created inside the block:
    a server in a network namespace is reached through one veth address, and a peer that
    also offers the machine's other addresses only slows its checks down.

    Relies on ``aioice.ice.Connection.gather_candidates`` looking up the module global
    ``get_host_addresses(use_ipv4, use_ipv6)`` when it runs (aiortc gathers in
    ``setLocalDescription``).
    """
    import aioice.ice

    chosen = list(addresses)

    def only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return list(chosen)

    original = _replace(aioice.ice, "get_host_addresses", only)
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original

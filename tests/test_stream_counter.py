"""The counting listener's figures (loss, jitter, relative delay, the playout buffer), and the
native counter and socket reader (``media_bench/native/fastcount.c``) against the Python
``StreamCounter``: the same headers at the same instants give the same figures, bit for bit."""

import asyncio
import random
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from media_bench.client.native_count import (
    DRAIN_EVERY,
    SETUP_DRAIN_EVERY,
    NativeReader,
    native_module,
)
from media_bench.client.quality import SETTLE
from media_bench.client.stream_counter import NATIVE_SETTINGS, Counter, StreamCounter

FRAME = 960  # RTP timestamp units of a 20 ms frame at 48 kHz


def native() -> Counter:
    module = native_module()
    assert module is not None, "the native counter is built by `make .venv/.installed`"
    counter: Counter = module.Counter(*NATIVE_SETTINGS)
    return counter


COUNTERS: dict[str, Callable[[], Counter]] = {"python": StreamCounter, "native": native}


@pytest.fixture(params=list(COUNTERS))
def make(request: pytest.FixtureRequest) -> Callable[[], Counter]:
    return COUNTERS[request.param]


def test_a_counter_sees_loss_across_a_sequence_wrap(make: Callable[[], Counter]) -> None:
    counter = make()
    for k, sequence in enumerate((65533, 65534, 65535, 1, 2, 4)):  # 0 and 3 never arrive
        assert counter.on_header(sequence, sequence * FRAME, 10.0 + 0.02 * k) == (k == 0)
    assert counter.counters() == (6, 8)
    counter.on_header(3, 3 * FRAME, 10.2)  # late, not a new cycle
    assert counter.counters() == (7, 8)


def test_jitter_follows_arrivals_across_an_rtp_timestamp_wrap(
    make: Callable[[], Counter],
) -> None:
    counter = make()
    start = 2**32 - 5 * FRAME  # wraps after five packets
    for k in range(40):
        counter.on_header(k, (start + FRAME * k) & 0xFFFFFFFF, 100.0 + 0.02 * k)
    assert counter.jitter < 1e-6, "steady arrivals across the wrap are not jitter"
    for k in range(40, 400):
        now = 100.0 + 0.02 * k + (0.005 if k % 2 else 0.0)
        counter.on_header(k, (start + FRAME * k) & 0xFFFFFFFF, now)
    assert 0.004 < counter.jitter < 0.006  # RFC 3550: alternating 5 ms deviation converges to 5 ms


def test_relative_delay_reads_a_stall_without_a_shared_clock(
    make: Callable[[], Counter],
) -> None:
    counter = make()
    start = 2**32 - 100 * FRAME  # the RTP timestamp wraps after 100 packets
    for k in range(300):
        # any receiver clock; steady, except packets 190-199, which come 300 ms late
        now = 5000.0 + 0.02 * k + (0.3 if 190 <= k < 200 else 0.0)
        counter.on_header(k, (start + FRAME * k) & 0xFFFFFFFF, now)
    delays = counter.take_relative_delays()  # one a second: packets 50, 100, ... 300
    assert len(delays) == 6 and delays[3] == pytest.approx(0.3)
    assert max(delays[:3] + delays[4:]) < 1e-6, delays
    assert counter.take_relative_delays() == []


def test_the_playout_buffer_conceals_late_and_lost_packets(make: Callable[[], Counter]) -> None:
    counter = make()
    for k in range(200):
        if k in (10, 11, 12, 50):
            continue  # lost: a run of three, then one
        late = 0.2 if k == 80 else 0.0  # past the 80 ms buffer
        counter.on_header(k, k * FRAME, 1.0 + 0.02 * k + late)
    played, decided = counter.playout_counters()
    assert decided == 200 - SETTLE
    assert decided - played == 5 and counter.bursts == [3, 1, 1]


def stream(seed: int, packets: int) -> list[tuple[int, int, float]]:
    """(sequence, timestamp, arrival) of a rough stream: loss, reordering, duplicates, bursts of
    delay, a sender restart (jump of sequence and timestamp), both fields wrapping."""
    rng = random.Random(seed)
    sequence, timestamp = rng.randrange(65536), rng.randrange(2**32)
    now = rng.uniform(0, 1e5)
    sent: list[tuple[int, int, float]] = []
    for _ in range(packets):
        if rng.random() < 0.002:
            sequence += rng.randrange(1, 40000)
            timestamp += rng.randrange(2**31)
        sequence, timestamp = sequence + 1, timestamp + FRAME
        now += 0.02
        if rng.random() < 0.05:
            continue  # lost
        delay = rng.expovariate(1 / 0.004) + (0.3 if rng.random() < 0.01 else 0.0)
        sent.append((sequence & 0xFFFF, timestamp & 0xFFFFFFFF, now + delay))
        if rng.random() < 0.01:
            sent.append(sent[-1])  # duplicate
    sent.sort(key=lambda packet: packet[2])
    return sent


def figures(counter: Counter) -> tuple[Any, ...]:
    return (counter.packets, counter.first_arrival, counter.jitter, counter.transit,
            counter.expected, counter.counters())


@pytest.mark.parametrize("seed", range(6))
def test_the_native_counter_gives_the_python_counters_figures_bit_for_bit(seed: int) -> None:
    python, compiled = StreamCounter(), native()
    rng = random.Random(seed)
    assert figures(python) == figures(compiled)
    assert python.playout_counters() == compiled.playout_counters() == (0, 0)
    for sequence, timestamp, now in stream(seed, 6000):
        assert python.on_header(sequence, timestamp, now) == compiled.on_header(
            sequence, timestamp, now)
        assert figures(python) == figures(compiled)
        if rng.random() < 0.004:  # a report window
            assert python.playout_counters() == compiled.playout_counters()
            assert python.bursts == compiled.bursts
            assert python.take_relative_delays() == compiled.take_relative_delays()
    assert python.playout_counters() == compiled.playout_counters()
    assert python.bursts == compiled.bursts and len(python.bursts) > 10
    assert python.take_relative_delays() == compiled.take_relative_delays()


def test_the_native_counter_settles_a_stream_left_unsettled_across_a_long_gap() -> None:
    python, compiled = StreamCounter(), native()  # the native bitmap grows past its first span
    for counter in (python, compiled):
        for k in range(3000):
            counter.on_header((k * 7) & 0xFFFF, (k * 7 * FRAME) & 0xFFFFFFFF, 1.0 + 0.02 * k)
    assert python.playout_counters() == compiled.playout_counters()
    assert python.bursts == compiled.bursts


def rtp(sequence: int, timestamp: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 111, sequence, timestamp, 0x1234) + b"opus"


def test_the_native_reader_counts_rtp_hands_back_the_rest_and_drops_rtcp() -> None:
    module = native_module()
    assert module is not None

    async def body() -> None:
        loop = asyncio.get_running_loop()
        reader = NativeReader(loop, module)
        receiving = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sending = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiving.bind(("127.0.0.1", 0))
        receiving.setblocking(False)
        sending.bind(("127.0.0.1", 0))
        counter = reader.new_counter()
        delivered: list[tuple[bytes, Any]] = []
        failures: list[Exception] = []
        first = asyncio.Event()
        reader.add(receiving.fileno(), counter, lambda data, addr: delivered.append((data, addr)),
                   failures.append, first.set)
        target = receiving.getsockname()
        stun = b"\x00\x01\x00\x00" + bytes(16)  # a binding request's first byte is < 2
        rtcp = struct.pack("!BBHI", 0x80, 200, 6, 0x1234) + bytes(20)
        for sequence in (1, 2, 4, 5):  # 3 never comes
            sending.sendto(rtp(sequence, sequence * FRAME), target)
        sending.sendto(rtcp, target)
        sending.sendto(stun, target)
        await asyncio.wait_for(first.wait(), 5)
        for _ in range(50):
            if counter.packets == 4 and delivered:
                break
            await asyncio.sleep(0.02)
        assert counter.counters() == (4, 5)
        assert delivered == [(stun, sending.getsockname())] and not failures
        reader.remove(receiving.fileno())
        sending.sendto(rtp(6, 6 * FRAME), target)
        await asyncio.sleep(0.1)
        assert counter.packets == 4  # removed: no longer read
        receiving.close()
        sending.close()

    asyncio.run(body())


@dataclass
class ReadSocket:
    """A native reader counting one loopback UDP socket, and a socket sending to it."""

    module: Any
    reader: Any
    counter: Counter
    receiving: socket.socket
    sending: socket.socket

    def send(self, datagram: bytes) -> None:
        self.sending.sendto(datagram, self.receiving.getsockname())


@pytest.fixture
def read_socket() -> Iterator[ReadSocket]:
    module = native_module()
    assert module is not None
    receiving = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sending = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiving.bind(("127.0.0.1", 0))
    receiving.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sending.bind(("127.0.0.1", 0))
    reader, counter = module.Reader(), native()
    reader.add(receiving.fileno(), counter)
    yield ReadSocket(module, reader, counter, receiving, sending)
    reader.close()
    receiving.close()
    sending.close()


def test_the_native_reader_counts_each_packet_at_its_arrival_not_when_it_reads(
    read_socket: ReadSocket,
) -> None:
    # Packet 2 leaves 100 ms after packet 1 but stamped one frame (20 ms) later: it came 80 ms
    # late. Read together afterwards, the kernel's arrival stamps still say so; stamped at
    # reading, both would seem to come at once (transit -20 ms).
    reader, counter = read_socket.reader, read_socket.counter
    read_socket.send(rtp(1, 0))
    time.sleep(0.1)
    read_socket.send(rtp(2, FRAME))
    time.sleep(0.05)
    assert reader.drain() is not None  # the first packet's report
    assert counter.packets == 2
    assert 0.075 < counter.transit < 0.1


def test_the_native_reader_takes_a_backlog_in_batches_and_stops_at_a_handshake_datagram(
    read_socket: ReadSocket,
) -> None:
    # A drain reads each socket with recvmmsg, 16 datagrams a call and at most 4 calls: 100
    # waiting packets take two drains. A STUN datagram ends the socket's reading for that drain
    # after its batch (Python may take the socket out of the set when it handles it).
    reader, counter, module = read_socket.reader, read_socket.counter, read_socket.module
    for sequence in range(1, 101):
        read_socket.send(rtp(sequence, sequence * FRAME))
    time.sleep(0.05)
    assert reader.drain() is not None  # the first packet's report
    assert counter.packets == 64
    assert reader.drain() is None
    assert counter.packets == 100
    stun = b"\x00\x01\x00\x00" + bytes(16)
    for sequence in range(101, 111):
        read_socket.send(rtp(sequence, sequence * FRAME))
    read_socket.send(stun)
    for sequence in range(111, 121):
        read_socket.send(rtp(sequence, sequence * FRAME))
    time.sleep(0.05)
    fd, sender = read_socket.receiving.fileno(), read_socket.sending.getsockname()
    assert reader.drain() == [(fd, module.DELIVER, stun, sender)]
    assert counter.packets == 115  # the batch of 16 held 10 RTP, the STUN and 5 RTP
    assert reader.drain() is None
    assert counter.counters() == (120, 120)


def test_the_native_reader_drains_often_only_while_a_stream_is_starting() -> None:
    module = native_module()
    assert module is not None
    assert SETUP_DRAIN_EVERY < DRAIN_EVERY

    async def body() -> None:
        reader = NativeReader(asyncio.get_running_loop(), module)
        sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
        sending = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for each in sockets:
            each.bind(("127.0.0.1", 0))
            each.setblocking(False)
        peer_started, other_started = asyncio.Event(), asyncio.Event()
        # one peer with two sockets (two ICE candidates), another with one
        for each, started in ((sockets[0], peer_started), (sockets[1], peer_started),
                              (sockets[2], other_started)):
            reader.add(each.fileno(), reader.new_counter(), lambda data, addr: None,
                       lambda error: None, started.set)
        assert reader.interval == SETUP_DRAIN_EVERY
        sending.sendto(rtp(1, 0), sockets[0].getsockname())
        await asyncio.wait_for(peer_started.wait(), 5)
        assert reader.interval == SETUP_DRAIN_EVERY  # the other peer has not started
        sending.sendto(rtp(1, 0), sockets[2].getsockname())
        await asyncio.wait_for(other_started.wait(), 5)
        assert reader.interval == DRAIN_EVERY  # the first peer's unused socket counts as started
        late = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        late.bind(("127.0.0.1", 0))
        reader.add(late.fileno(), reader.new_counter(), lambda data, addr: None,
                   lambda error: None, lambda: None)
        assert reader.interval == SETUP_DRAIN_EVERY
        reader.remove(late.fileno())
        assert reader.interval == DRAIN_EVERY
        for each in (*sockets, late):
            reader.remove(each.fileno())
            each.close()
        sending.close()

    asyncio.run(body())

"""What an origin pays per edge it feeds: its mixer tick's CPU with K relay links.

In this process, no network peers: an origin ``MediaHost`` mixes a room of two speakers
whose packets are fed straight into the mixer, with K edges registered (``add_edge``) that
point at UDP sinks on loopback. Every tick then sends the encoded listener mix once per edge
(relay encoding, ``sendto``, the relay counters), which is all a relay link costs its origin.
Hosts of every K are ticked in turn, round by round, so a noisy neighbour hits all alike; the
sinks are drained between rounds, outside the timed ticks. K starts at 1: with no edge (and
no listener) the mixer skips its listener-mix encode, which is no relay cost.
"""

from __future__ import annotations

import socket
import time

import numpy as np
import pandas as pd

from media_bench.client.marks import Signal
from media_bench.common.audio import FRAME_SAMPLES
from media_bench.common.codec import OpusEncoder
from media_bench.server.media_host import MediaHost
from media_bench.server.metrics import Metrics
from media_bench.server.settings import Settings

ROOM = "relay-cost"
SPEAKERS = 2
WARMUP = 20


class _Sink:
    """A UDP socket on loopback that an edge's address points at; drained by hand."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.setblocking(False)
        self.received = 0

    @property
    def address(self) -> list[str | int]:
        host, port = self.socket.getsockname()
        return [host, port]

    def drain(self) -> None:
        while True:
            try:
                self.socket.recv(2048)
            except BlockingIOError:
                return
            self.received += 1


async def relay_tick_costs(edges: list[int], ticks: int, settings: Settings) -> pd.DataFrame:
    """Tick CPU (thread time) of an origin with each count of ``edges``: one row per count;
    ``relayed_share``: the share of the relay datagrams the sinks received (a check that the
    links really sent)."""
    sinks = [_Sink() for _ in range(max(edges))]
    hosts: list[MediaHost] = []
    names = [f"s{i}" for i in range(SPEAKERS)]
    encoders = [OpusEncoder(settings.bitrate, 0) for _ in names]
    signals = [Signal(amplitude=0.1 + 0.05 * i) for i in range(SPEAKERS)]
    try:
        for count in edges:
            host = MediaHost(settings, Metrics(lambda: (0, {})))
            await host.start()
            await host.open_origin(ROOM)
            for sink in sinks[:count]:
                await host.add_edge(ROOM, sink.address)
            mixer = host.origins[ROOM].mixer
            await mixer.stop()  # ticked by hand below, never by its clock
            mixer.set_speakers(names, names)
            hosts.append(host)
        cpu: list[list[float]] = [[] for _ in edges]
        for k in range(WARMUP + ticks):
            payloads = [
                bytes(encoder.encode(signal.frame(k), k * FRAME_SAMPLES) or b"")
                for encoder, signal in zip(encoders, signals, strict=True)
            ]
            for index, host in enumerate(hosts):
                mixer = host.origins[ROOM].mixer
                for name, payload in zip(names, payloads, strict=True):
                    mixer.input_for(name).feed(payload)
                began = time.thread_time()
                mixer.tick(k)
                if k >= WARMUP:
                    cpu[index].append((time.thread_time() - began) * 1e6)
            for sink in sinks:  # untimed
                sink.drain()
        rows = []
        base = np.array(cpu[0])
        for count, values in zip(edges, cpu, strict=True):
            array = np.array(values)
            rows.append(
                {
                    "edges": count,
                    "ticks": len(array),
                    "cpu_mean_us": float(array.mean()),
                    "cpu_median_us": float(np.median(array)),
                    "cpu_p99_us": float(np.percentile(array, 99)),
                    # paired with the fewest edges' tick of the same round: what the edges
                    # added, with the machine's drift from round to round taken out
                    "extra_median_us": float(np.median(array - base)),
                }
            )
        table = pd.DataFrame(rows)
        sent = sum(edges) * (WARMUP + ticks)
        table["relayed_share"] = sum(sink.received for sink in sinks) / sent
        return table
    finally:
        for host in hosts:
            await host.close()
        for sink in sinks:
            sink.socket.close()


def relay_slope_us(table: pd.DataFrame) -> float:
    """CPU microseconds per tick per edge: the slope of what the edges added to a tick
    (``extra_median_us``, paired by round; medians: a preempted tick is no relay cost)
    against the number of edges."""
    if len(table) < 2:
        return float("nan")
    return float(np.polyfit(table["edges"], table["extra_median_us"], 1)[0])

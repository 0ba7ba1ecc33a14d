"""Prometheus metrics of one server (its own registry, so several servers can share a process)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

TICK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.02, 0.05)
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
LAG_INTERVAL = 0.25


class _RoomCollector(Collector):
    """Rooms and participants by role, read from the server's state at scrape time."""

    def __init__(self, snapshot: Callable[[], tuple[int, dict[str, int]]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        rooms, by_role = self._snapshot()
        yield GaugeMetricFamily("spaces_rooms_live", "Live rooms", value=rooms)
        family = GaugeMetricFamily(
            "spaces_participants", "Connected participants by role", labels=["role"]
        )
        for role, count in sorted(by_role.items()):
            family.add_metric([role], count)
        yield family


WorkerRow = tuple[str, int, dict[str, float]]
"""One media worker at scrape time: its id, its process id (the API process's own when it
mixes rooms itself), and its load by kind (listeners, rooms, edges, relays)."""


class _FleetCollector(Collector):
    """The media workers' loads as placement holds them, and their process ids (so a
    benchmark can meter each worker's CPU)."""

    def __init__(self, snapshot: Callable[[], list[WorkerRow]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        rows = self._snapshot()
        pids = GaugeMetricFamily(
            "spaces_worker_pid", "Process id of each media worker", labels=["worker"]
        )
        load = GaugeMetricFamily(
            "spaces_worker_load",
            "Each media worker's load as placement holds it: listener sessions, rooms it is the "
            "origin of, rooms it relays as an edge, relay links it feeds",
            labels=["worker", "kind"],
        )
        for worker, pid, counts in rows:
            pids.add_metric([worker], pid)
            for kind, value in counts.items():
                load.add_metric([worker, kind], value)
        yield pids
        yield load


DATABASE_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
RELAY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.5, 1.0)


class Metrics:
    def __init__(self, snapshot: Callable[[], tuple[int, dict[str, int]]]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_RoomCollector(snapshot))
        # process_cpu_seconds_total, process_resident_memory_bytes, open fds...
        ProcessCollector(registry=self.registry)
        self.tickets_sold = Counter(
            "spaces_tickets_sold", "Tickets sold, every room", registry=self.registry
        )
        self.database_seconds = Histogram(
            "spaces_database_seconds",
            "Ledger calls as an HTTP handler waits for them (queue and transaction), by operation",
            ["operation"],
            buckets=DATABASE_BUCKETS,
            registry=self.registry,
        )
        self.tick_seconds = Histogram(
            "spaces_mixer_tick_seconds",
            "Time one mixer tick takes (mix, encodes, hand-over: the direct design sends in it)",
            buckets=TICK_BUCKETS,
            registry=self.registry,
        )
        self.late_ticks = Counter(
            "spaces_mixer_late_ticks", "Ticks started over one period late", registry=self.registry
        )
        self.packets_sent = Counter(
            "spaces_rtp_packets_sent", "Media packets handed to senders", registry=self.registry
        )
        self.encodes = Counter(
            "spaces_mixer_encodes",
            "Opus encodes of mixes; none for a room with nobody to hear its listener mix",
            registry=self.registry,
        )
        self.drops = Counter(
            "spaces_drops",
            "Participants and event subscribers the server dropped, by reason: "
            "connection_failed (ICE or DTLS failed), consent_expired (a peer stopped answering "
            "ICE consent checks: stopped reading or vanished), closed (the peer closed without "
            "leaving), "
            "receive_timeout (a speaker stopped sending), relay_lost (an edge heard nothing from "
            "its origin), worker_lost (the media worker carrying the session died, or its node), "
            "relay_unregistered (a relay datagram from an address no room here "
            "registered, or not a relay datagram), relay_unauthenticated (a datagram on the relay "
            "port without the fleet key's tag), event_overflow (a slow event subscriber "
            "lost its oldest event), event_stalled (an event stream stopped reading)",
            ["reason"],
            registry=self.registry,
        )
        self.packets_received = Counter(
            "spaces_rtp_packets_received", "Speaker packets received", registry=self.registry
        )
        self.relay_packets = Counter(
            "spaces_relay_packets",
            "Relay datagrams between origin and edges, by direction and the other end's address",
            ["direction", "peer"],
            registry=self.registry,
        )
        self.relay_delay = Histogram(
            "spaces_relay_delay_seconds",
            "Origin to edge hop of the listener mix, as the edge sees it (wall clocks: as good "
            "as the hosts' clock synchronisation)",
            buckets=RELAY_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "spaces_event_loop_lag_seconds",
            "How late a periodic loop wake-up ran",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )

    def watch_fleet(self, snapshot: Callable[[], list[WorkerRow]]) -> None:
        """Report the media workers' loads and process ids from now on."""
        self.registry.register(_FleetCollector(snapshot))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def watch_loop_lag(self) -> None:
        """Measure event-loop lag until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_INTERVAL)
            self.loop_lag.observe(max(0.0, loop.time() - before - LAG_INTERVAL))


class RelayCounts:
    """The relay endpoint's counters (``relay.RelayCounters``) in these metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._children: dict[tuple[str, tuple[str, int]], Any] = {}

    def _count(self, direction: str, peer: tuple[str, int]) -> None:
        child = self._children.get((direction, peer))
        if child is None:
            child = self._metrics.relay_packets.labels(direction, f"{peer[0]}:{peer[1]}")
            self._children[direction, peer] = child
        child.inc()

    def sent(self, peer: tuple[str, int]) -> None:
        self._count("sent", peer)

    def received(self, peer: tuple[str, int]) -> None:
        self._count("received", peer)

    def rejected(self) -> None:
        self._metrics.drops.labels("relay_unregistered").inc()

    def unauthenticated(self) -> None:
        self._metrics.drops.labels("relay_unauthenticated").inc()

"""The media side of one API process: its own ``MediaHost`` (``workers == 0``: everything in
one process, as tests and in-process benchmarks run it) or ``workers`` media worker processes
over their control links, as one fleet the rooms are placed on."""

from __future__ import annotations

import asyncio
import os

from media_bench.server.fleet import Carrier, MediaFleet
from media_bench.server.live import MediaNotices
from media_bench.server.media_host import MediaHost
from media_bench.server.metrics import Metrics, WorkerRow
from media_bench.server.settings import Settings
from media_bench.server.store.directory import worker_id
from media_bench.server.worker_client import RemoteMediaHost
from media_bench.server.worker_process import WorkerPool

IN_PROCESS_CAPACITY = 1 << 30
"""A process that mixes every room itself has nowhere to spill listeners to: no limit."""


class MediaWorkers:
    """Starts and stops the media this API process places rooms on."""

    def __init__(
        self, settings: Settings, node_id: str, notices: MediaNotices, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.notices = notices
        self.metrics = metrics
        self.fleet = MediaFleet(node_id, settings.placement)
        self.local: MediaHost | None = None
        self.pool: WorkerPool | None = None
        self.links: list[RemoteMediaHost] = []

    async def start(self) -> None:
        settings, node = self.settings, self.fleet.node_id
        self.metrics.watch_fleet(self.snapshot)
        if settings.workers == 0:
            self.local = MediaHost(
                settings,
                self.metrics,
                settings.relay_host,
                on_levels=self.notices.levels,
                on_drop=self.notices.drop,
            )
            await self.local.start()
            carrier = Carrier(worker_id(node, 0), node, self.local, self.local.relay_address)
            self.fleet.add(carrier, IN_PROCESS_CAPACITY)
            return
        self.pool = WorkerPool(settings, settings.workers, settings.relay_host, settings.relay_host)
        for address in await self.pool.start():
            link = RemoteMediaHost(
                address.control_url,
                on_levels=self.notices.levels,
                on_drop=self.notices.drop,
                on_lost=self._lost,
            )
            await link.start()
            self.links.append(link)
            self.fleet.add(Carrier(worker_id(node, address.index), node, link, address.relay))

    def own_worker_ids(self) -> list[str]:
        """This node's workers, by position."""
        count = 1 if self.local is not None else len(self.links)
        return [worker_id(self.fleet.node_id, position) for position in range(count)]

    def addresses(self) -> list[tuple[int, str, tuple[str, int]]]:
        """(position, control URL, relay address) of this node's workers; the API process's
        own host has no control URL (other nodes cannot place on it)."""
        if self.local is not None:
            return [(0, "", self.local.relay_address)]
        if self.pool is None:
            return []
        return [(a.index, a.control_url, a.relay) for a in self.pool.addresses]

    def snapshot(self) -> list[WorkerRow]:
        """Each worker's id, process id and load (the front's ``/metrics``)."""
        pids = (
            {}
            if self.pool is None
            else {worker_id(self.fleet.node_id, a.index): a.pid for a in self.pool.addresses}
        )
        return [
            (
                w.worker_id,
                pids.get(w.worker_id, os.getpid()),
                {"listeners": w.listeners, "rooms": w.rooms, "edges": w.edges, "relays": w.relays},
            )
            for w in self.fleet.loads.workers.values()
        ]

    def _lost(self, link: RemoteMediaHost) -> None:
        for carrier in list(self.fleet.carriers.values()):
            if carrier.media is link:
                self.fleet.retire(carrier.worker_id)
                self.notices.worker_lost(carrier.worker_id)

    async def close(self) -> None:
        if self.local is not None:
            await self.local.close()
        await asyncio.gather(*(link.close() for link in self.links))
        if self.pool is not None:
            await self.pool.stop()

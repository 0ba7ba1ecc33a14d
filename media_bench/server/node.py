"""This API process as one node of a fleet sharing a database: in the directory with its media
workers, beating, and watching the others.

Every ``heartbeat_interval`` the node records its workers' loads, marks lost any node whose
heartbeat is older than ``lost_after`` (the directory ends that node's rooms, once, whoever
notices first), and refreshes the other nodes' workers in its fleet: new ones are linked (their
control endpoint) so rooms here can spill edges onto them, lost ones take nothing more.

A worker's free capacity as seen from here is its limit less what its own node reported and
what this node placed on it. With more than two nodes, what a third node placed on it is not
counted until the worker's own node reports it (placement between nodes is eventually
consistent, one heartbeat late, and a worker may be over-filled by that much).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from media_bench.server.fleet import Carrier
from media_bench.server.live import MediaNotices
from media_bench.server.media_workers import MediaWorkers
from media_bench.server.settings import Settings
from media_bench.server.store.database import Database
from media_bench.server.store.directory import WorkerAddress, WorkerCounts, WorkerRecord
from media_bench.server.worker_client import RemoteMediaHost

log = logging.getLogger(__name__)


class Node:
    """Registers this node, beats, marks lost nodes and links other nodes' workers."""

    def __init__(
        self, settings: Settings, database: Database, workers: MediaWorkers,
        notices: MediaNotices,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.database = database
        self.directory = database.directory
        self.workers = workers
        self.notices = notices
        self.api_url = ""
        self.links: dict[str, RemoteMediaHost] = {}
        """Other nodes' workers, by worker id."""
        self._beating: asyncio.Task[None] | None = None
        self.lost = False
        """Another node marked this one lost (its heartbeats stopped landing)."""
        self.other_api_urls: list[str] = []
        """The other ``up`` nodes' API addresses, as of the last heartbeat (a room list asks
        them without a directory query of its own)."""

    @property
    def node_id(self) -> str:
        return self.directory.node_id

    async def join(self, api_url: str) -> None:
        """Enter the directory at ``api_url`` and start beating."""
        self.api_url = api_url
        addresses = [
            WorkerAddress(position, control_url, relay[0], relay[1])
            for position, control_url, relay in self.workers.addresses()
        ]
        await self.database.call(self.directory.register_node, api_url, addresses, time.time())
        self._beating = asyncio.ensure_future(self._beat())

    async def _beat(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception:  # a database hiccup must not stop the heartbeat for good
                log.exception("heartbeat failed")
            await asyncio.sleep(self.settings.heartbeat_interval)

    async def beat(self) -> None:
        """One heartbeat: own loads, lost nodes, other nodes' workers and API addresses."""
        loads = self.workers.fleet.loads.workers
        counts = {
            position: WorkerCounts(w.rooms, w.edges, w.listeners)
            for position, worker in enumerate(self.workers.own_worker_ids())
            if (w := loads.get(worker)) is not None
        }
        call = self.database.call
        if not await call(self.directory.heartbeat, counts, time.time()):
            if not self.lost:
                log.error("node %s was marked lost by another node", self.node_id)
            self.lost = True
        lost = await call(self.directory.mark_lost, time.time(), self.settings.lost_after)
        for node_id, rooms in lost.items():
            log.warning("node %s lost; its rooms ended: %s", node_id, ", ".join(rooms) or "-")
        await self.refresh(await call(self.directory.alive_workers))
        self.other_api_urls = await call(self.directory.other_nodes)

    async def refresh(self, alive: list[WorkerRecord]) -> None:
        fleet, limit = self.workers.fleet, self.settings.placement.listeners_per_worker
        others = {w.id: w for w in alive if w.node_id != self.node_id and w.control_url}
        for worker_id, link in list(self.links.items()):
            if worker_id not in others:  # its node was lost or stopped
                self._lost(link)
                await link.close()
        for record in others.values():
            # what this node placed there is counted by the fleet's own load of the worker
            capacity = max(limit - record.counts.listeners, 0.0)
            if record.id in self.links:
                fleet.loads.set_capacity(record.id, capacity)
                continue
            link = RemoteMediaHost(
                record.control_url,
                on_levels=self.notices.levels,
                on_drop=self.notices.drop,
                on_lost=self._lost,
            )
            try:
                await link.start()
            except Exception as error:  # a worker this node cannot reach is skipped
                log.warning("cannot link worker %s: %s", record.id, error)
                continue
            self.links[record.id] = link
            carrier = Carrier(
                record.id, record.node_id, link, (record.relay_host, record.relay_port)
            )
            fleet.add(carrier, capacity)

    def _lost(self, link: RemoteMediaHost) -> None:
        for worker_id, linked in list(self.links.items()):
            if linked is link:
                self.workers.fleet.retire(worker_id)
                self.notices.worker_lost(worker_id)
                del self.links[worker_id]

    async def leave(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
        await asyncio.gather(*(link.close() for link in self.links.values()))
        if self.api_url:
            with contextlib.suppress(Exception):
                await self.database.call(self.directory.stop_node)

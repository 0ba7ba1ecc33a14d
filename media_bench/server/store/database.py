"""The ledger's calls off the event loop: a small thread pool runs them (one thread for
SQLite, whose writes are one at a time anyway) and only HTTP handlers await them, so the
mixer's clock never waits on a commit's fsync."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from media_bench.server.store.directory import Directory
from media_bench.server.store.engine import open_engine
from media_bench.server.store.ledger import Ledger
from media_bench.server.store.migrations import migrate
from sim.rules.tickets import TicketParams

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """The migrated database at ``url``, its ledger and directory (this process is the node
    that opens rooms as ``served_by``), and the pool that runs their calls."""

    def __init__(self, url: str, params: TicketParams | None = None) -> None:
        engine = open_engine(url)
        migrate(engine)
        self.ledger = Ledger(engine, params)
        self.directory = Directory(engine, node_id=self.ledger.served_by)
        workers = 1 if engine.dialect.name == "sqlite" else 4
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ledger")
        self.on_call: Callable[[str, float], None] | None = None
        """Told each call's operation name and seconds waited (queue and transaction)."""

    async def call(self, method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``method(*args)`` on a ledger thread."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            return await loop.run_in_executor(
                self._pool, functools.partial(method, *args, **kwargs)
            )
        finally:
            if self.on_call is not None:
                self.on_call(method.__name__, time.perf_counter() - started)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.ledger.engine.dispose()

"""Media worker processes: one ``MediaHost`` each, behind its control link, one per core.

``WorkerPool`` starts them (``spawn``: a fresh interpreter, nothing of the parent's event
loop), learns each one's control URL and relay address, and stops them. A worker exits on
its own when its parent is gone, so a ``kill -9`` of the API process leaves no media behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from aiohttp import web

from media_bench.server.event_loop import run as run_on_loop
from media_bench.server.media_host import MediaHost
from media_bench.server.metrics import Metrics
from media_bench.server.settings import Settings
from media_bench.server.worker_control import ControlLinks, control_app
from spaces_core.errors import SpacesLabError

START_TIMEOUT = 30.0
"""Seconds a worker may take to start (import aiortc, bind its ports)."""
PARENT_CHECK = 0.5
"""Seconds between a worker's checks that its parent still runs."""


@dataclass(frozen=True)
class WorkerAddress:
    """Where a started worker listens."""

    index: int
    pid: int
    control_url: str
    relay: tuple[str, int]


class WorkerStartError(SpacesLabError):
    """A worker did not come up."""


def worker_main(settings: Settings, listen_host: str, relay_host: str, ready: Connection) -> None:
    """A worker process's body (the target ``WorkerPool`` spawns)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the API process, which stops us
    run_on_loop(_serve(settings, listen_host, relay_host, ready), settings.event_loop)


async def _serve(settings: Settings, listen_host: str, relay_host: str, ready: Connection) -> None:
    parent = os.getppid()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    links = ControlLinks()
    host: MediaHost | None = None

    def head_count() -> tuple[int, dict[str, int]]:
        load = host.load() if host is not None else {}
        return load.get("rooms", 0), {
            "listener": load.get("listeners", 0),
            "speaker": load.get("speakers", 0),
        }

    metrics = Metrics(head_count)
    host = MediaHost(settings, metrics, relay_host, on_levels=links.levels, on_drop=links.drop)
    await host.start()
    runner = web.AppRunner(control_app(host, links, metrics), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, listen_host, 0)
    await site.start()
    port = runner.addresses[0][1]
    relay_address = host.relay_address
    ready.send((os.getpid(), f"http://{listen_host}:{port}", tuple(relay_address)))
    ready.close()
    watch = asyncio.ensure_future(metrics.watch_loop_lag())
    try:
        while not stop.is_set() and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PARENT_CHECK)
    finally:
        watch.cancel()
        await host.close()
        await runner.cleanup()


class WorkerPool:
    """``count`` worker processes for one API process."""

    def __init__(
        self,
        settings: Settings,
        count: int,
        listen_host: str = "127.0.0.1",
        relay_host: str = "127.0.0.1",
    ) -> None:
        self.settings = settings
        self.count = count
        self.listen_host = listen_host
        self.relay_host = relay_host
        self.processes: list[BaseProcess] = []
        self.addresses: list[WorkerAddress] = []

    async def start(self) -> list[WorkerAddress]:
        context = multiprocessing.get_context("spawn")
        waiting: list[tuple[BaseProcess, Connection]] = []
        for _ in range(self.count):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=worker_main,
                args=(self.settings, self.listen_host, self.relay_host, send),
                daemon=True,
                name="spaces-media-worker",
            )
            process.start()
            send.close()
            self.processes.append(process)
            waiting.append((process, receive))
        loop = asyncio.get_running_loop()
        for index, (started, receive) in enumerate(waiting):
            ready = await loop.run_in_executor(None, _receive, receive, started)
            pid, control_url, relay = ready
            self.addresses.append(WorkerAddress(index, pid, control_url, (relay[0], relay[1])))
        return self.addresses

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        for process in self.processes:
            await loop.run_in_executor(None, process.join, 10.0)
            if process.is_alive():
                process.kill()
                await loop.run_in_executor(None, process.join, 5.0)


def _receive(receive: Connection, process: BaseProcess) -> Any:
    try:
        if not receive.poll(START_TIMEOUT):
            raise WorkerStartError(
                f"media worker {process.pid} did not start in {START_TIMEOUT:g} s"
            )
        return receive.recv()
    except EOFError:
        raise WorkerStartError(
            f"media worker {process.pid} exited while starting (code {process.exitcode})"
        ) from None
    finally:
        receive.close()

"""The server under test, as the benchmarks and swarms see it: a process to start, stop and
meter, and a client that opens rooms and seats speaker and listener peers in them.

Two kinds implement it: this server (``our_target``) and Janus (``janus_target``); the
registry of names is ``targets``.
"""

from __future__ import annotations

from typing import Protocol

from media_bench.client.api import ApiClient
from media_bench.client.bots import Peer, ProbeMode
from media_bench.client.marks import Signal


class Rooms(Protocol):
    """What a load generator asks of a server; use on one asyncio loop."""

    @property
    def metrics(self) -> ApiClient | None:
        """A client of this server's ``/metrics`` (None: a server without it)."""
        ...

    async def create_room(self, title: str) -> str:
        """A new live room; its id."""
        ...

    async def live_rooms(self) -> list[str]:
        """Rooms a participant may join now (live, their host in them)."""
        ...

    async def speaker(self, room: str, signal: Signal, probe: ProbeMode = "count") -> Peer:
        """A peer (not joined yet) that publishes ``signal`` on the room's stage and hears
        the room's mix without itself."""
        ...

    async def listener(self, room: str, probe: ProbeMode = "count") -> Peer:
        """A peer (not joined yet) that hears the room's mix."""
        ...

    async def end_room(self, room: str) -> None: ...

    async def close(self) -> None:
        """Release the client's connections (its peers are closed already)."""
        ...


class Target(Protocol):
    """A server process and the way to talk to it."""

    name: str
    """The ``--target`` name."""
    label: str
    """What runs, for people: the design and its settings."""
    close_peers_first: bool
    """Whether its peers must be closed before it stops: true of a server in a network
    namespace, whose address routes nowhere once the namespace is gone. Otherwise the server
    stops first and its peers' goodbyes go unanswered (quicker; the server's shutdown does
    not race hundreds of leaves)."""

    @property
    def pid(self) -> int:
        """The process whose CPU and memory are the server's."""
        ...

    def start(self) -> None: ...

    def stop(self) -> float:
        """Stop the server; the CPU seconds it used over its life."""
        ...

    def rooms(self) -> Rooms:
        """A client for the running server, to use on the calling loop."""
        ...


class ServerProcessLike(Protocol):
    """A server run as a process: where it is and how to start and stop it."""

    @property
    def pid(self) -> int: ...

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> float: ...


class ProcessTarget:
    """The part of a ``Target`` that is its server process (``process``)."""

    process: ServerProcessLike

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return self.process.url

    def start(self) -> None:
        self.process.start()

    def stop(self) -> float:
        return self.process.stop()

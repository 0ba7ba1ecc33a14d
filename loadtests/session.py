"""Per-process state shared by the simulated users: the API client and the user directory.

Everything here lives on the bridge loop (aiohttp sessions are bound to their loop) and is
created lazily, so importing this module starts nothing.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from media_bench.client.api import ApiClient
from media_bench.client.janus_target import JanusRooms
from media_bench.client.our_target import OurRooms
from media_bench.client.target import Rooms
from media_bench.client.targets import JANUS_DESIGNS, OURS

SPREAD = (5 ** 0.5 - 1) / 2
"""Where the load processes start in each list of accounts: process ``i`` at the fraction
``i * SPREAD`` (mod 1) of it, so any number of processes start far apart without knowing how
many there are (the golden ratio's gaps)."""


def _start(process: int, size: int) -> int:
    return int((process * SPREAD) % 1.0 * size)


@dataclass
class Directory:
    """Accounts this process hands out, each list in turn from this process's start: hosts
    (those the server says can host), ticket hosts (those it says can host ticketed rooms) and
    the audience (everyone else). Two users of a swarm never share an account while there are
    accounts to go round: a host's account is never in the audience (a listener signed in as
    the host would join the host's room as the host, and leave it), and processes start apart."""

    hosts: list[str]
    ticket_hosts: list[str]
    audience: list[str]
    process: int = 0
    _next_ticket_host: itertools.count[int] = field(default_factory=itertools.count)
    _next_host: itertools.count[int] = field(default_factory=itertools.count)
    _next_listener: itertools.count[int] = field(default_factory=itertools.count)

    def host_id(self) -> str:
        return self._take(self.hosts, self._next_host)

    def ticket_host_id(self) -> str | None:
        """A host who may sell tickets, or None when the directory has none."""
        if not self.ticket_hosts:
            return None
        return self._take(self.ticket_hosts, self._next_ticket_host)

    def audience_id(self) -> str:
        """An account that cannot host (the audience's)."""
        return self._take(self.audience, self._next_listener)

    def _take(self, accounts: list[str], turn: itertools.count[int]) -> str:
        return accounts[(_start(self.process, len(accounts)) + next(turn)) % len(accounts)]


_clients: dict[str, ApiClient] = {}
_rooms: dict[tuple[str, str], Rooms] = {}
_directories: dict[str, Directory] = {}
_directory_lock: asyncio.Lock | None = None


def client(base_url: str) -> ApiClient:
    """The process's API client for a server (call on the bridge loop)."""
    if base_url not in _clients:
        _clients[base_url] = ApiClient(base_url)
    return _clients[base_url]


def rooms(base_url: str, target: str) -> Rooms:
    """The process's rooms client of a target (call on the bridge loop): this server's
    through its API client, Janus's through one Janus session."""
    key = (base_url, target)
    if key not in _rooms:
        if target == OURS:
            _rooms[key] = OurRooms(client(base_url))
        else:
            _rooms[key] = JanusRooms(base_url, JANUS_DESIGNS[target])
    return _rooms[key]


async def directory(base_url: str, process: int = 0) -> Directory:
    """Fetch the server's users once per process; the server decides who can host.
    ``process``: this load process's index among the swarm's (Locust's worker index)."""
    global _directory_lock
    if _directory_lock is None:
        _directory_lock = asyncio.Lock()
    async with _directory_lock:
        if base_url not in _directories:
            api = client(base_url)
            users = (await api.call("GET", "/users?limit=10000"))["users"]
            audience = [u["id"] for u in users if not u["can_host"]]
            _directories[base_url] = Directory(
                hosts=[u["id"] for u in users if u["can_host"]],
                ticket_hosts=[u["id"] for u in users if u["can_host_ticketed"]],
                # (a server whose every user can host has no audience of its own)
                audience=audience or [u["id"] for u in users],
                process=process,
            )
        return _directories[base_url]


async def close_all() -> None:
    """Close this process's API clients (at the end of a test)."""
    for rooms_client in list(_rooms.values()):
        await rooms_client.close()
    _rooms.clear()
    for api in list(_clients.values()):
        await api.close()
    _clients.clear()

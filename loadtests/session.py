"""Per-process state shared by the simulated users: the API client and the user directory.

Everything here lives on the bridge loop (aiohttp sessions are bound to their loop) and is
created lazily, so importing this module starts nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
from dataclasses import dataclass, field

from media_bench.client.api import ApiClient
from media_bench.client.janus_target import JanusRooms
from media_bench.client.our_target import OurRooms
from media_bench.client.target import Rooms
from media_bench.client.targets import JANUS_DESIGNS, OURS


@dataclass
class Directory:
    """User ids this process hands out: hosts (those the server says can host), ticket hosts
    (those it says can host ticketed rooms) and everybody."""

    hosts: list[str]
    ticket_hosts: list[str]
    everybody: list[str]
    _next_ticket_host: itertools.count[int] = field(default_factory=itertools.count)
    _next_host: itertools.count[int] = field(default_factory=itertools.count)
    _next_user: itertools.count[int] = field(default_factory=itertools.count)
    offset: int = field(default_factory=lambda: random.Random(os.getpid()).randrange(1 << 30))

    def host_id(self) -> str:
        return self.hosts[(self.offset + next(self._next_host)) % len(self.hosts)]

    def ticket_host_id(self) -> str | None:
        """A host who may sell tickets, or None when the directory has none."""
        if not self.ticket_hosts:
            return None
        turn = self.offset + next(self._next_ticket_host)
        return self.ticket_hosts[turn % len(self.ticket_hosts)]

    def user_id(self) -> str:
        return self.everybody[(self.offset + next(self._next_user)) % len(self.everybody)]


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


async def directory(base_url: str) -> Directory:
    """Fetch the server's users once per process; the server decides who can host."""
    global _directory_lock
    if _directory_lock is None:
        _directory_lock = asyncio.Lock()
    async with _directory_lock:
        if base_url not in _directories:
            api = client(base_url)
            users = (await api.call("GET", "/users?limit=10000"))["users"]
            _directories[base_url] = Directory(
                hosts=[u["id"] for u in users if u["can_host"]],
                ticket_hosts=[u["id"] for u in users if u["can_host_ticketed"]],
                everybody=[u["id"] for u in users],
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

"""This server as a ``Target``: a server process on loopback driven through its API.

A room's first speaker is its host (a user the server says can host); every further
speaker joins, is invited to the stage by the host and accepts, as a person would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection

from media_bench.client.api import ApiClient
from media_bench.client.bots import ListenerBot, Peer, ProbeMode, SpeakerBot
from media_bench.client.marks import Signal
from media_bench.client.server_process import ServerProcess
from media_bench.client.signalling import ApiSignalling
from media_bench.client.target import ProcessTarget

STAGE = ("speaker", "cohost", "host")


class StageSignalling(ApiSignalling):
    """Join, then be invited to the stage by the host and accept."""

    def __init__(
        self, api: ApiClient, token: str, room_id: str, user: str, host_token: str
    ) -> None:
        super().__init__(api, token, room_id)
        self.user = user
        self.host_token = host_token

    async def connect(self, pc: RTCPeerConnection) -> str:
        role = await super().connect(pc)
        if role in STAGE:
            return role
        await self.api.act(self.host_token, self.room_id, self.user, "invite")
        state = await self.api.accept_invite(self.token, self.room_id)
        return "speaker" if self.user in state.speakers else role


@dataclass
class _Room:
    host_token: str
    host_seated: bool = False


@dataclass
class OurRooms:
    """Rooms and peers of one server, users drawn from its directory."""

    api: ApiClient
    _users: list[str] = field(default_factory=list)
    _hosts: list[str] = field(default_factory=list)
    _rooms: dict[str, _Room] = field(default_factory=dict)

    @property
    def metrics(self) -> ApiClient:
        return self.api

    async def _directory(self) -> None:
        if not self._users:
            directory = (await self.api.users(limit=10_000)).users
            self._hosts = [u.id for u in directory if u.can_host]
            self._users = [u.id for u in directory]

    async def _someone(self) -> tuple[str, str]:
        await self._directory()
        user = self._users.pop()
        if user in self._hosts:
            self._hosts.remove(user)
        return user, await self.api.token(user)

    async def create_room(self, title: str) -> str:
        await self._directory()
        host = self._hosts.pop()
        self._users.remove(host)
        token = await self.api.token(host)
        room = (await self.api.create_room(token, title)).id
        self._rooms[room] = _Room(token)
        return room

    async def live_rooms(self) -> list[str]:
        _, token = await self._someone()
        rooms = (await self.api.rooms(token)).rooms
        return [r.id for r in rooms if r.live and r.host_present]

    async def speaker(self, room: str, signal: Signal, probe: ProbeMode = "count") -> Peer:
        seat = self._rooms[room]
        if not seat.host_seated:
            seat.host_seated = True
            return SpeakerBot(self.api, seat.host_token, room, signal, probe)
        user, token = await self._someone()
        bot = SpeakerBot(self.api, token, room, signal, probe)
        bot.signalling = StageSignalling(self.api, token, room, user, seat.host_token)
        return bot

    async def listener(self, room: str, probe: ProbeMode = "count") -> Peer:
        _, token = await self._someone()
        return ListenerBot(self.api, token, room, probe)

    async def end_room(self, room: str) -> None:
        await self.api.end_room(self._rooms.pop(room).host_token, room)

    async def close(self) -> None:
        await self.api.close()


class OurServer(ProcessTarget):
    """``python -m media_bench.server`` with ``options``, on loopback."""

    name = "ours"
    close_peers_first = False

    def __init__(self, options: Sequence[str] = (), label: str = "this server") -> None:
        self.label = label
        self.process = ServerProcess(options)

    def rooms(self) -> OurRooms:
        return OurRooms(ApiClient(self.process.url))

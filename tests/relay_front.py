"""A control plane in miniature for relay tests: one room, an origin host, an edge host.

``RelayFront`` keeps the room's roles (members, speakers, mutes) and where each member is
connected, and syncs every change to both hosts, as the real front will; bots join through it
(``DirectApi``: the token is the user id) instead of over HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np

from media_bench.client.api import ApiClient
from media_bench.client.bots import Bot, ListenerBot, SpeakerBot
from media_bench.client.marks import Signal
from media_bench.common.contract import JoinAnswer
from media_bench.server.media_host import MediaHost
from media_bench.server.metrics import Metrics
from media_bench.server.peers import DropReason
from media_bench.server.settings import Settings

ROOM = "relayed"


class DirectApi(ApiClient):
    """Joins through a ``RelayFront`` instead of a server."""

    def __init__(self, front: RelayFront) -> None:
        super().__init__("http://unused")
        self.front = front

    async def join(self, token: str, room_id: str, offer_sdp: str) -> JoinAnswer:
        sdp = await self.front.join(token, offer_sdp)
        role = "speaker" if token in self.front.speakers else "listener"
        return JoinAnswer.model_validate({"type": "answer", "sdp": sdp, "role": role})


class RelayFront:
    """The room's roles, and every change synced to the hosts that carry it."""

    def __init__(self, origin: MediaHost, edge: MediaHost) -> None:
        self.origin, self.edge = origin, edge
        self.open: list[MediaHost] = []
        self.members: list[str] = []
        self.speakers: list[str] = []
        self.muted: set[str] = set()
        self.where: dict[str, MediaHost] = {}
        self.bots: dict[str, Bot] = {}
        self.drops: list[tuple[str, str, DropReason]] = []
        self.api = DirectApi(self)
        self._tasks: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        await self.origin.open_origin(ROOM)
        await self.edge.open_edge(ROOM, list(self.origin.relay_address))
        await self.origin.add_edge(ROOM, list(self.edge.relay_address))
        self.open = [self.origin, self.edge]

    async def sync(self) -> None:
        mixed = [u for u in self.speakers if u not in self.muted]
        edge: list[str | int] = list(self.edge.relay_address)
        remote = {u: edge for u in self.speakers if self.where[u] is self.edge}
        for host in self.open:
            await host.sync(ROOM, list(self.members), list(self.speakers), mixed, remote)

    async def join(self, user: str, offer_sdp: str) -> str:
        host = self.where[user]
        answer = await host.connect(ROOM, user, offer_sdp)
        self.members.append(user)
        await host.commit(ROOM, user)
        await self.sync()
        return answer

    async def add(
        self, user: str, host: MediaHost, hz: float | None = None, speaker: bool = False
    ) -> Bot:
        """A bot joined on ``host``: a listener, or one publishing ``hz`` (mixed once it
        speaks)."""
        self.where[user] = host
        if speaker:
            self.speakers.append(user)
        if hz is None:
            bot: Bot = ListenerBot(self.api, user, ROOM, record=True)
        else:
            bot = SpeakerBot(self.api, user, ROOM, Signal(tone_hz=hz), record=True)
        self.bots[user] = bot
        await bot.join()
        await bot.wait_audio(10)
        return bot

    async def promote(self, user: str) -> None:
        self.speakers.append(user)
        await self.sync()

    async def demote(self, user: str) -> None:
        self.speakers.remove(user)
        await self.sync()

    async def leave(self, user: str) -> None:
        self.members.remove(user)
        if user in self.speakers:
            self.speakers.remove(user)
        await self.sync()

    async def close_room(self, host: MediaHost) -> None:
        self.open.remove(host)
        await host.close_room(ROOM)

    def dropped(self, room_id: str, user_id: str, reason: DropReason) -> None:
        self.drops.append((room_id, user_id, reason))
        if user_id in self.members:
            self.members.remove(user_id)
            if user_id in self.speakers:
                self.speakers.remove(user_id)
            task = asyncio.ensure_future(self.sync())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def listen(self, seconds: float = 1.5) -> dict[str, np.ndarray]:
        """What every bot hears over the next ``seconds`` (after changes have settled)."""
        await asyncio.sleep(0.4)
        for bot in self.bots.values():
            bot.probe.recording.clear()
        await asyncio.sleep(seconds)
        empty = np.zeros(0, dtype=np.int16)
        return {
            user: np.concatenate([empty, *bot.probe.recording]) for user, bot in self.bots.items()
        }

    async def close(self) -> None:
        for bot in self.bots.values():
            await bot.close()
        if self._tasks:
            await asyncio.gather(*self._tasks)


def host_metrics() -> Metrics:
    return Metrics(lambda: (0, {}))


@asynccontextmanager
async def relayed_room(settings: Settings | None = None) -> AsyncIterator[RelayFront]:
    """An origin and an edge host on loopback, one room open on both, relayed."""
    settings = settings or Settings()
    front: RelayFront | None = None

    def on_drop(room_id: str, user_id: str, reason: DropReason) -> None:
        if front is not None:
            front.dropped(room_id, user_id, reason)

    origin = MediaHost(settings, host_metrics(), on_drop=on_drop)
    edge = MediaHost(settings, host_metrics(), on_drop=on_drop)
    front = RelayFront(origin, edge)
    await origin.start()
    await edge.start()
    await front.start()
    try:
        yield front
    finally:
        await front.close()
        await origin.close()
        await edge.close()

"""The media server: users, tokens and live rooms behind the HTTP API the contract declares."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from aiohttp import web

from media_bench.server.auth import authenticate
from media_bench.server.forward import ElsewhereRooms, Forwarder, OtherNodesRooms
from media_bench.server.hosting import WINDOW_SECONDS, HostingLog
from media_bench.server.live import LiveRooms, MediaNotices
from media_bench.server.lobby import Lobby
from media_bench.server.media import RoomMedia
from media_bench.server.media_workers import MediaWorkers
from media_bench.server.metrics import Metrics
from media_bench.server.node import Node
from media_bench.server.ratelimit import RateLimiter, rate_limit
from media_bench.server.refusals import json_errors
from media_bench.server.router import add_routes
from media_bench.server.routes import handlers
from media_bench.server.settings import Settings
from media_bench.server.state import ServerState
from media_bench.server.store.database import Database
from media_bench.server.store.engine import database_url
from media_bench.server.store.ledger import SERVER_STOPPED
from media_bench.server.tokens import TokenSigner
from media_bench.server.users import UserDirectory


class SpacesServer:
    """One server's state, its aiohttp application, and its background tasks."""

    def __init__(self, settings: Settings | None = None, users: UserDirectory | None = None):
        settings = settings or Settings()
        if users is None:
            users = (
                UserDirectory.load(settings.users_file)
                if settings.users_file is not None
                else UserDirectory.generate(settings.users, settings.seed)
            )
        rooms = LiveRooms()
        database = Database(database_url(settings.data_dir, settings.database))
        # Rooms a dead server left live: ended now, before this one takes requests.
        database.ledger.end_orphaned_rooms(time.time())
        secret = settings.secret or database.ledger.token_secret()
        hosting = HostingLog()
        for host, created_at in database.ledger.rooms_created_since(time.time() - WINDOW_SECONDS):
            hosting.record(host, created_at)
        metrics = Metrics(rooms.head_count)
        self.notices = notices = MediaNotices(rooms, metrics, database)
        # the media hosts key their relay from the token secret (the fleet's, through the
        # database), so every node's workers authenticate each other's relay datagrams
        media_settings = replace(settings, secret=secret)
        self.workers = MediaWorkers(media_settings, database.ledger.served_by, notices, metrics)
        self.node = Node(settings, database, self.workers, notices)
        self.forwarder = Forwarder(self.node.node_id)
        self.state = ServerState(
            settings=settings,
            users=users,
            signer=TokenSigner(secret, settings.token_ttl),
            rooms=rooms,
            metrics=metrics,
            lobby=Lobby(rooms.summaries),
            hosting=hosting,
            database=database,
            fleet=self.workers.fleet,
            other_nodes_rooms=OtherNodesRooms(self.forwarder, lambda: self.node.other_api_urls),
        )
        database.on_call = lambda operation, seconds: metrics.database_seconds.labels(
            operation
        ).observe(seconds)
        self._background: list[asyncio.Task[None]] = []

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def users(self) -> UserDirectory:
        return self.state.users

    @property
    def signer(self) -> TokenSigner:
        return self.state.signer

    @property
    def rooms(self) -> LiveRooms:
        return self.state.rooms

    @property
    def media(self) -> dict[str, RoomMedia]:
        """The media of every room this process mixes itself (``workers == 0``)."""
        return {} if self.workers.local is None else dict(self.workers.local.origins)

    @property
    def lobby(self) -> Lobby:
        return self.state.lobby

    @property
    def metrics(self) -> Metrics:
        return self.state.metrics

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.settings.max_body,
            middlewares=[
                json_errors,
                authenticate(self.signer, self.users),
                rate_limit(RateLimiter(self.settings.rate_per_second, self.settings.rate_burst)),
            ],
        )
        elsewhere = ElsewhereRooms(self.forwarder, self.state.database)
        add_routes(app.router, handlers(self.state), self.state.find_room, elsewhere)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._stop)
        app.on_cleanup.append(self._close_database)
        return app

    async def _start(self, app: web.Application) -> None:
        self._background.append(asyncio.ensure_future(self.metrics.watch_loop_lag()))
        self._background.append(asyncio.ensure_future(self.lobby.run()))
        await self.workers.start()

    async def announce(self, api_url: str) -> None:
        """Serving at ``api_url``: enter the fleet's directory as a node (call once bound)."""
        await self.node.join(api_url)

    async def _stop(self, app: web.Application) -> None:
        for task in self._background:
            task.cancel()
        self.lobby.close()
        await self.node.leave()
        await self.forwarder.close()
        await self.rooms.close()
        await self.workers.close()
        await self.notices.close()
        ledger = self.state.ledger
        await self.state.database.call(ledger.end_rooms_of_this_server, SERVER_STOPPED, time.time())

    async def _close_database(self, app: web.Application) -> None:
        self.state.database.close()


def build_app(
    settings: Settings | None = None, users: UserDirectory | None = None
) -> web.Application:
    """An aiohttp application serving one ``SpacesServer``."""
    return SpacesServer(settings, users).app()

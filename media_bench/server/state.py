"""What every handler works on: settings, users, tokens, rooms, the database, metrics and the
lobby."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from media_bench.common.contract import RoomState, UserView
from media_bench.server.fleet import MediaFleet
from media_bench.server.hosting import HostingLog, may_host, unmet_for_ticketed
from media_bench.server.live import LiveRoom, LiveRooms
from media_bench.server.lobby import Lobby
from media_bench.server.metrics import Metrics
from media_bench.server.settings import Settings
from media_bench.server.store.database import Database
from media_bench.server.store.ledger import Ledger
from media_bench.server.stored_rooms import room_from_record
from media_bench.server.tokens import TokenSigner
from media_bench.server.users import UserDirectory
from spaces_core.errors import Refused


@dataclass
class ServerState:
    settings: Settings
    users: UserDirectory
    signer: TokenSigner
    rooms: LiveRooms
    metrics: Metrics
    lobby: Lobby
    hosting: HostingLog
    database: Database
    fleet: MediaFleet
    """The media workers rooms are placed on (this process's own host, or worker processes)."""
    other_nodes_rooms: Callable[[web.Request], Awaitable[list[RoomState]]]
    """The live rooms the fleet's other nodes serve (``forward.OtherNodesRooms``)."""

    @property
    def ledger(self) -> Ledger:
        return self.database.ledger

    def user_view(self, user_id: str) -> UserView:
        user = self.users.get(user_id)
        if user is None:
            raise Refused(404, f"unknown user {user_id}")
        threshold = self.settings.host_threshold
        return UserView(
            id=user.id,
            followers=user.followers,
            age=user.age,
            hosted_30d=self.hosting.hosted_30d(user),
            can_host=may_host(user, threshold),
            can_host_ticketed=not unmet_for_ticketed(user, threshold, self.hosting),
        )

    async def find_room(self, room_id: str) -> LiveRoom:
        """A room this process serves or served, else one the database knows (an ended one
        is kept in ``rooms`` from then on); 404 otherwise."""
        found = self.rooms.get(room_id)
        if found is not None:
            return found
        record = await self.database.call(self.ledger.room, room_id)
        if record is None:
            raise Refused(404, f"unknown room {room_id}")
        stored = room_from_record(record, self.settings)
        if not record.live:
            self.rooms.setdefault(room_id, stored)
        return stored

"""Every read and write of the database: rooms and their lifecycle, ticket sales and refunds,
bans, messages and the token secret. Each method is one transaction; a ``Refused`` raised
inside one rolls it back, so a refused request changes nothing stored.

The refund rule: a ticketed room *starts* when its host first joins. A room that ends before
it started (its host ends it, or its server stopped or died) refunds every ticket: each gets
a row in ``refunds``; the ticket stays.
"""

from __future__ import annotations

import os
import secrets as random_secrets
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from media_bench.server.store.schema import bans, messages, refunds, rooms, secrets, tickets
from sim.rules.tickets import TicketParams, split_sale
from spaces_core.errors import Refused

TOKEN_SECRET = "token-signing"
LIVE, ENDED = "live", "ended"
SERVER_RESTART = "server restart"
SERVER_STOPPED = "server stopped"
ENDED_BY_HOST = "ended by host"
ORIGIN_LOST = "origin lost"
"""The media worker mixing the room (its origin) died: nobody can be heard any more."""


@dataclass(frozen=True)
class RoomRecord:
    """A room as stored, with who held tickets, who was removed and the messages."""

    id: str
    host: str
    title: str
    price_usd: float | None
    cap: int | None
    live: bool
    created_at: float
    started_at: float | None
    ended_at: float | None
    ended_reason: str | None
    served_by: str
    ticket_holders: tuple[str, ...]
    refunded: int
    banned: tuple[str, ...]
    messages: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Sale:
    room_id: str
    buyer: str
    number: int
    """The room's n-th ticket (the reply's ``sold``)."""
    cap: int
    replayed: bool
    """True when an earlier request with the same idempotency key made this sale."""


@dataclass(frozen=True)
class Revenue:
    tickets_sold: int
    refunded: int
    gross_usd: float
    refunds_usd: float
    store_usd: float
    creator_usd: float
    platform_usd: float


def this_server() -> str:
    """``host:pid:instance``: which server process serves a room."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:  # a killed child its parent has not reaped yet is a zombie: gone all the same
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def server_gone(served_by: str, me: str) -> bool:
    """Whether the server process ``served_by`` names is known to be dead: it ran on this
    machine and its process is gone (or it was an earlier server in this very process)."""
    host, _, rest = served_by.partition(":")
    pid_text = rest.partition(":")[0]
    my_host = me.partition(":")[0]
    if host != my_host or not pid_text.isdigit():
        return False
    if int(pid_text) == os.getpid():
        return served_by != me
    return _process_gone(int(pid_text))


def end_live_room(c: Connection, room_id: str, reason: str, now: float) -> int:
    """In the caller's transaction: mark a live room ended, refunding every ticket if it never
    started; returns the tickets refunded (0 too for a room already ended)."""
    ended = c.execute(
        update(rooms)
        .where(rooms.c.id == room_id, rooms.c.status == LIVE)
        .values(status=ENDED, ended_at=now, ended_reason=reason)
    )
    if ended.rowcount == 0:
        return 0
    started = c.execute(select(rooms.c.started_at).where(rooms.c.id == room_id)).scalar()
    if started is not None:
        return 0
    unrefunded = c.execute(
        select(tickets.c.id, tickets.c.price_usd)
        .outerjoin(refunds, refunds.c.ticket_id == tickets.c.id)
        .where(tickets.c.room_id == room_id, refunds.c.id.is_(None))
    ).all()
    why = f"room ended before it started ({reason})"
    for ticket_id, price in unrefunded:
        c.execute(insert(refunds).values(ticket_id=ticket_id, amount_usd=price,
                                         refunded_at=now, reason=why))  # fmt: skip
    return len(unrefunded)


class Ledger:
    """The database behind one server process (``served_by`` names it in the rooms it opens)."""

    def __init__(self, engine: Engine, params: TicketParams | None = None) -> None:
        self.engine = engine
        self.params = params or TicketParams()
        self.served_by = this_server()

    # -- the token secret ------------------------------------------------------------------
    def token_secret(self) -> bytes:
        """The token-signing secret, made on first use and kept."""
        try:
            with self.engine.begin() as c:
                found = c.execute(select(secrets.c.value).where(secrets.c.name == TOKEN_SECRET))
                value = found.scalar()
                if value is None:
                    value = random_secrets.token_hex(32)
                    c.execute(insert(secrets).values(name=TOKEN_SECRET, value=value))
        except IntegrityError:  # another server made it at the same moment: use theirs
            with self.engine.begin() as c:
                found = c.execute(select(secrets.c.value).where(secrets.c.name == TOKEN_SECRET))
                value = found.scalar_one()
        return bytes.fromhex(value)

    # -- rooms -----------------------------------------------------------------------------
    def create_room(
        self, host: str, title: str, price_usd: float | None, cap: int | None, now: float
    ) -> str:
        """A new room's id: ``r`` and a number no room had before."""
        with self.engine.begin() as c:
            created = c.execute(
                insert(rooms).values(
                    host=host,
                    title=title,
                    price_usd=price_usd,
                    cap=cap,
                    status=LIVE,
                    created_at=now,
                    served_by=self.served_by,
                )
            )
            seq = created.inserted_primary_key[0] if created.inserted_primary_key else None
            room_id = f"r{seq}"
            c.execute(update(rooms).where(rooms.c.seq == seq).values(id=room_id))
        return room_id

    def rooms_created_since(self, since: float) -> list[tuple[str, float]]:
        """(host, created_at) of every room created after ``since``, oldest first."""
        with self.engine.connect() as c:
            found = c.execute(
                select(rooms.c.host, rooms.c.created_at)
                .where(rooms.c.created_at > since)
                .order_by(rooms.c.created_at)
            )
            return [(host, created_at) for host, created_at in found]

    def mark_started(self, room_id: str, now: float) -> None:
        """The host joined: from now on ending the room refunds nothing."""
        with self.engine.begin() as c:
            c.execute(
                update(rooms)
                .where(rooms.c.id == room_id, rooms.c.started_at.is_(None))
                .values(started_at=now)
            )

    def end_room(self, room_id: str, reason: str, now: float) -> int:
        """Mark a live room ended; refunds every ticket if it never started. Returns the
        tickets refunded."""
        with self.engine.begin() as c:
            return end_live_room(c, room_id, reason, now)

    def end_rooms_of_this_server(self, reason: str, now: float) -> list[str]:
        """End every room this server still has live (a clean shutdown)."""
        return self._end_where(lambda served_by: served_by == self.served_by, reason, now)

    def end_orphaned_rooms(self, now: float) -> list[str]:
        """End the live rooms whose server died (``server_gone``): at start-up."""
        return self._end_where(lambda s: server_gone(s, self.served_by), SERVER_RESTART, now)

    def _end_where(self, pick: Any, reason: str, now: float) -> list[str]:
        with self.engine.begin() as c:
            live = c.execute(select(rooms.c.id, rooms.c.served_by).where(rooms.c.status == LIVE))
            ended = [room_id for room_id, served_by in live.all() if pick(served_by)]
            for room_id in ended:
                end_live_room(c, room_id, reason, now)
        return ended

    def room(self, room_id: str) -> RoomRecord | None:
        with self.engine.begin() as c:
            row = c.execute(select(rooms).where(rooms.c.id == room_id)).first()
            if row is None:
                return None
            sold = c.execute(
                select(tickets.c.buyer, refunds.c.id.is_not(None))
                .outerjoin(refunds, refunds.c.ticket_id == tickets.c.id)
                .where(tickets.c.room_id == room_id)
                .order_by(tickets.c.id)
            ).all()
            banned = c.execute(select(bans.c.user_id).where(bans.c.room_id == room_id)).scalars()
            said = c.execute(
                select(messages.c.sender, messages.c.text, messages.c.sent_at)
                .where(messages.c.room_id == room_id)
                .order_by(messages.c.id)
            ).all()
            return _record(row, sold, tuple(banned), said)

    # -- tickets ---------------------------------------------------------------------------
    def buy_ticket(self, room_id: str, buyer: str, key: str | None, now: float) -> Sale:
        """Sell ``buyer`` a ticket, or replay the sale an earlier request with the same
        ``key`` made. The host's rooms are locked first (PostgreSQL; SQLite's BEGIN IMMEDIATE
        locks the database), so the cap check and the insert are one step for every process,
        and the host's lifetime earnings, which set the split, are those of every sale before."""
        try:
            with self.engine.begin() as c:
                return self._buy(c, room_id, buyer, key, now)
        except IntegrityError as error:  # only a bug in the checks below could get here
            raise Refused(409, f"user {buyer} already holds a ticket") from error

    def _buy(self, c: Connection, room_id: str, buyer: str, key: str | None, now: float) -> Sale:
        host = c.execute(select(rooms.c.host).where(rooms.c.id == room_id)).scalar()
        if host is None:
            raise Refused(404, f"unknown room {room_id}")
        c.execute(
            select(rooms.c.seq).where(rooms.c.host == host).order_by(rooms.c.seq).with_for_update()
        ).all()
        room = c.execute(select(rooms).where(rooms.c.id == room_id)).one()
        if key is not None:
            earlier = c.execute(
                select(tickets.c.room_id, tickets.c.number).where(
                    tickets.c.buyer == buyer, tickets.c.idempotency_key == key
                )
            ).first()
            if earlier is not None:
                if earlier.room_id != room_id:
                    raise Refused(422, "Idempotency-Key was used for another room's ticket")
                return Sale(room_id, buyer, earlier.number, room.cap or 0, replayed=True)
        if room.status != LIVE:
            raise Refused(409, f"room {room_id} has ended")
        if room.price_usd is None or room.cap is None:
            raise Refused(409, "this room is free; it sells no tickets")
        held = select(tickets.c.id).where(tickets.c.room_id == room_id, tickets.c.buyer == buyer)
        if c.execute(held).first() is not None:
            raise Refused(409, f"user {buyer} already holds a ticket")
        if buyer == room.host:
            raise Refused(409, "the host needs no ticket")
        sold = c.execute(
            select(func.count()).select_from(tickets).where(tickets.c.room_id == room_id)
        ).scalar_one()
        if sold >= room.cap:
            raise Refused(409, "sold out")
        store, creator, platform = split_sale(room.price_usd, self._lifetime(c, host), self.params)
        c.execute(
            insert(tickets).values(
                room_id=room_id,
                buyer=buyer,
                price_usd=room.price_usd,
                store_usd=store,
                creator_usd=creator,
                platform_usd=platform,
                sold_at=now,
                number=sold + 1,
                idempotency_key=key,
            )
        )
        return Sale(room_id, buyer, sold + 1, room.cap, replayed=False)

    def _lifetime(self, c: Connection, host: str) -> float:
        """The host's creator earnings so far, refunded tickets left out."""
        earned = c.execute(
            select(func.coalesce(func.sum(tickets.c.creator_usd), 0.0))
            .join(rooms, rooms.c.id == tickets.c.room_id)
            .outerjoin(refunds, refunds.c.ticket_id == tickets.c.id)
            .where(rooms.c.host == host, refunds.c.id.is_(None))
        ).scalar_one()
        return float(earned)

    def holds_ticket(self, room_id: str, buyer: str) -> bool:
        with self.engine.begin() as c:
            found = c.execute(
                select(tickets.c.id).where(tickets.c.room_id == room_id, tickets.c.buyer == buyer)
            ).first()
        return found is not None

    def revenue(self, room_id: str) -> Revenue:
        with self.engine.begin() as c:
            kept = refunds.c.id.is_(None)
            row = c.execute(
                select(
                    func.count(tickets.c.id),
                    func.count(refunds.c.id),
                    func.coalesce(func.sum(tickets.c.price_usd), 0.0),
                    func.coalesce(func.sum(refunds.c.amount_usd), 0.0),
                    func.coalesce(func.sum(tickets.c.store_usd).filter(kept), 0.0),
                    func.coalesce(func.sum(tickets.c.creator_usd).filter(kept), 0.0),
                    func.coalesce(func.sum(tickets.c.platform_usd).filter(kept), 0.0),
                )
                .select_from(tickets.outerjoin(refunds, refunds.c.ticket_id == tickets.c.id))
                .where(tickets.c.room_id == room_id)
            ).one()
        return Revenue(int(row[0]), int(row[1]), *(float(value) for value in row[2:]))

    def ticket_rows(self) -> list[dict[str, Any]]:
        """The tickets ledger, one row per ticket sold, oldest first."""
        with self.engine.begin() as c:
            found = c.execute(
                select(
                    tickets.c.room_id.label("room"),
                    rooms.c.host,
                    tickets.c.buyer,
                    tickets.c.price_usd,
                    tickets.c.store_usd,
                    tickets.c.creator_usd,
                    tickets.c.platform_usd,
                    tickets.c.sold_at,
                    refunds.c.id.is_not(None).label("refunded"),
                )
                .join(rooms, rooms.c.id == tickets.c.room_id)
                .outerjoin(refunds, refunds.c.ticket_id == tickets.c.id)
                .order_by(tickets.c.id)
            )
            return [dict(row._mapping) for row in found]

    # -- bans and messages -----------------------------------------------------------------
    def ban(self, room_id: str, user_id: str, by: str, now: float) -> None:
        with self.engine.begin() as c:
            already = c.execute(
                select(bans.c.user_id).where(and_(bans.c.room_id == room_id,
                                                  bans.c.user_id == user_id))
            ).first()  # fmt: skip
            if already is None:
                c.execute(insert(bans).values(room_id=room_id, user_id=user_id, banned_by=by,
                                              banned_at=now))  # fmt: skip

    def add_message(self, room_id: str, sender: str, text: str, at: float) -> None:
        with self.engine.begin() as c:
            c.execute(
                insert(messages).values(room_id=room_id, sender=sender, text=text, sent_at=at)
            )


def _record(
    row: Row[Any],
    sold: Any,
    banned: tuple[str, ...],
    said: Any,
) -> RoomRecord:
    return RoomRecord(
        id=row.id,
        host=row.host,
        title=row.title,
        price_usd=row.price_usd,
        cap=row.cap,
        live=row.status == LIVE,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        ended_reason=row.ended_reason,
        served_by=row.served_by,
        ticket_holders=tuple(buyer for buyer, _refunded in sold),
        refunded=sum(1 for _buyer, refunded in sold if refunded),
        banned=banned,
        messages=tuple({"from": s, "text": t, "at": at} for s, t, at in said),
    )

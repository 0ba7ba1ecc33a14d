"""Numbered schema migrations, run in order at start-up, each in its own transaction.

Plain functions rather than Alembic: a few small steps run in-process by the server, and the
same code must run on SQLite and PostgreSQL; Alembic would add a script folder and an ini
file for no gain here. A migration is never edited once released: add the next number.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Column,
    Connection,
    Double,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)

from media_bench.server.store import schema

_MIGRATION_LOCK = 7_313_001
"""PostgreSQL advisory lock: two servers starting on one database migrate one at a time."""


def _version_1(connection: Connection) -> None:
    """Rooms, tickets (no idempotency key), bans, messages, the token secret."""
    v1 = MetaData()
    Table(
        "rooms", v1,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("id", String(32), unique=True),
        Column("host", String(200), nullable=False),
        Column("title", Text, nullable=False),
        Column("price_usd", Double),
        Column("cap", Integer),
        Column("status", String(16), nullable=False),
        Column("created_at", Double, nullable=False),
        Column("ended_at", Double),
        Column("ended_reason", Text),
        Column("served_by", String(200), nullable=False),
        sqlite_autoincrement=True,
    )  # fmt: skip
    Table(
        "tickets", v1,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("room_id", String(32), ForeignKey("rooms.id"), nullable=False),
        Column("buyer", String(200), nullable=False),
        Column("price_usd", Double, nullable=False),
        Column("store_usd", Double, nullable=False),
        Column("creator_usd", Double, nullable=False),
        Column("platform_usd", Double, nullable=False),
        Column("sold_at", Double, nullable=False),
        Column("number", Integer, nullable=False),
        UniqueConstraint("room_id", "buyer", name="one_ticket_per_buyer"),
        sqlite_autoincrement=True,
    )  # fmt: skip
    Table(
        "bans", v1,
        Column("room_id", String(32), ForeignKey("rooms.id"), primary_key=True),
        Column("user_id", String(200), primary_key=True),
        Column("banned_by", String(200), nullable=False),
        Column("banned_at", Double, nullable=False),
    )  # fmt: skip
    Table(
        "messages", v1,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("room_id", String(32), ForeignKey("rooms.id"), nullable=False),
        Column("sender", String(200), nullable=False),
        Column("text", Text, nullable=False),
        Column("sent_at", Double, nullable=False),
    )  # fmt: skip
    Table(
        "secrets", v1,
        Column("name", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )  # fmt: skip
    v1.create_all(connection)


def _version_2(connection: Connection) -> None:
    """Idempotency keys on purchases, refunds, and when a room started (its host joined)."""
    connection.execute(text("ALTER TABLE tickets ADD COLUMN idempotency_key VARCHAR(200)"))
    connection.execute(text("ALTER TABLE rooms ADD COLUMN started_at DOUBLE PRECISION"))
    schema.ticket_keys.create(connection)
    schema.refunds.create(connection)


def _version_3(connection: Connection) -> None:
    """The directory of a fleet: nodes, their media workers, each room's origin worker and
    the edge workers relaying it."""
    connection.execute(text("ALTER TABLE rooms ADD COLUMN origin_worker VARCHAR(220)"))
    v3 = MetaData()
    Table("rooms", v3, autoload_with=connection)  # as it stands, for the relays' foreign key
    nodes = Table(
        "nodes", v3,
        Column("id", String(200), primary_key=True),
        Column("api_url", Text, nullable=False),
        Column("started_at", Double, nullable=False),
        Column("heartbeat_at", Double, nullable=False),
        Column("status", String(16), nullable=False),
    )  # fmt: skip
    workers = Table(
        "workers", v3,
        Column("id", String(220), primary_key=True),
        Column("node_id", String(200), ForeignKey("nodes.id"), nullable=False),
        Column("position", Integer, nullable=False),
        Column("control_url", Text, nullable=False),
        Column("relay_host", String(200), nullable=False),
        Column("relay_port", Integer, nullable=False),
        Column("heartbeat_at", Double, nullable=False),
        Column("rooms", Integer, nullable=False),
        Column("edges", Integer, nullable=False),
        Column("listeners", Integer, nullable=False),
        Column("status", String(16), nullable=False),
    )  # fmt: skip
    relays = Table(
        "relays", v3,
        Column("room_id", String(32), ForeignKey("rooms.id"), primary_key=True),
        Column("worker_id", String(220), ForeignKey("workers.id"), primary_key=True),
        Column("listeners", Integer, nullable=False),
        Column("opened_at", Double, nullable=False),
    )  # fmt: skip
    v3.create_all(connection, tables=[nodes, workers, relays])


class MigrationError(RuntimeError):
    """The database cannot be brought to this code's schema version."""


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_version_1, _version_2, _version_3)
CURRENT = len(MIGRATIONS)


def version_of(connection: Connection) -> int:
    """The schema version of the database (0: empty)."""
    if not inspect(connection).has_table("schema_version"):
        return 0
    found = connection.execute(select(func.max(schema.schema_version.c.version))).scalar()
    return int(found or 0)


def migrate(engine: Engine, target: int = CURRENT) -> int:
    """Bring the database to ``target`` (default: the current version); returns the version
    it had. A database newer than this code is refused."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
        schema.schema_version.create(connection, checkfirst=True)
        found = version_of(connection)
        if found > CURRENT:
            raise MigrationError(
                f"the database is at schema version {found}; this code knows {CURRENT}"
            )
        for number in range(found + 1, target + 1):
            MIGRATIONS[number - 1](connection)
        if found == 0 and target > 0:
            connection.execute(insert(schema.schema_version).values(version=target))
        elif target > found:
            connection.execute(update(schema.schema_version).values(version=target))
    return found

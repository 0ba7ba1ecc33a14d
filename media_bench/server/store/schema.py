"""The tables at the current schema version (``migrations.CURRENT``); the migrations build
them step by step and a test checks that they agree."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, nullable=False),
)

rooms = Table(
    "rooms",
    metadata,
    # never reused, even across restarts: the room id is "r" + seq
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), unique=True),
    Column("host", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("price_usd", Double),
    Column("cap", Integer),
    Column("status", String(16), nullable=False),  # live | ended
    Column("created_at", Double, nullable=False),
    Column("ended_at", Double),
    Column("ended_reason", Text),
    Column("served_by", String(200), nullable=False),  # host:pid:instance of its server
    Column("started_at", Double),  # version 2: when the host first joined
    Column("origin_worker", String(220)),  # version 3: the worker that mixes it (workers.id)
    sqlite_autoincrement=True,
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("room_id", String(32), ForeignKey("rooms.id"), nullable=False),
    Column("buyer", String(200), nullable=False),
    Column("price_usd", Double, nullable=False),
    Column("store_usd", Double, nullable=False),
    Column("creator_usd", Double, nullable=False),
    Column("platform_usd", Double, nullable=False),
    Column("sold_at", Double, nullable=False),
    Column("number", Integer, nullable=False),  # the room's n-th ticket
    Column("idempotency_key", String(200)),  # version 2
    UniqueConstraint("room_id", "buyer", name="one_ticket_per_buyer"),
    sqlite_autoincrement=True,
)
ticket_keys = Index("ticket_idempotency", tickets.c.buyer, tickets.c.idempotency_key, unique=True)

refunds = Table(  # version 2
    "refunds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=False, unique=True),
    Column("amount_usd", Double, nullable=False),
    Column("refunded_at", Double, nullable=False),
    Column("reason", Text, nullable=False),
)

bans = Table(
    "bans",
    metadata,
    Column("room_id", String(32), ForeignKey("rooms.id"), primary_key=True),
    Column("user_id", String(200), primary_key=True),
    Column("banned_by", String(200), nullable=False),
    Column("banned_at", Double, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("room_id", String(32), ForeignKey("rooms.id"), nullable=False),
    Column("sender", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("sent_at", Double, nullable=False),
)

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),  # hex
)


# -- version 3: the directory of a fleet of nodes ---------------------------------------------
nodes = Table(
    "nodes",
    metadata,
    Column("id", String(200), primary_key=True),  # the node's served_by: host:pid:instance
    Column("api_url", Text, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("heartbeat_at", Double, nullable=False),
    Column("status", String(16), nullable=False),  # up | stopped | lost
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(220), primary_key=True),  # node id + "/" + position
    Column("node_id", String(200), ForeignKey("nodes.id"), nullable=False),
    Column("position", Integer, nullable=False),  # the worker's number on its node
    Column("control_url", Text, nullable=False),
    Column("relay_host", String(200), nullable=False),
    Column("relay_port", Integer, nullable=False),
    Column("heartbeat_at", Double, nullable=False),
    Column("rooms", Integer, nullable=False),
    Column("edges", Integer, nullable=False),
    Column("listeners", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # up | stopped | lost
)

relays = Table(
    "relays",
    metadata,
    Column("room_id", String(32), ForeignKey("rooms.id"), primary_key=True),
    Column("worker_id", String(220), ForeignKey("workers.id"), primary_key=True),
    Column("listeners", Integer, nullable=False),
    Column("opened_at", Double, nullable=False),
)

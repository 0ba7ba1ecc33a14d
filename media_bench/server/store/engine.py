"""Where the database is and how to connect: SQLite (WAL, ``synchronous=FULL``, every
transaction ``BEGIN IMMEDIATE``) or PostgreSQL through psycopg 3."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

DATA_DIR_ENV = "SPACES_LAB_DATA_DIR"
"""Overrides the default data folder (the tests point it at a temporary one)."""
DATABASE_FILE = "spaces-lab.sqlite3"
MEMORY = "sqlite://"
"""An in-memory database: what a server made in-process without a data folder uses."""
BUSY_TIMEOUT_S = 30.0


def default_data_dir() -> Path:
    """``$SPACES_LAB_DATA_DIR``, else ``$XDG_DATA_HOME/spaces-lab``, else
    ``~/.local/share/spaces-lab``."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "spaces-lab"


def database_url(data_dir: Path | None, database: str | None) -> str:
    """The URL to open: ``database`` when given, else the SQLite file in ``data_dir``, else
    an in-memory database."""
    if database:
        return database
    if data_dir is None:
        return MEMORY
    return f"sqlite:///{(data_dir / DATABASE_FILE).resolve()}"


def check_url(url: str) -> str:
    """The URL's backend (``sqlite`` or ``postgresql``); ValueError naming what is wrong."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ValueError(f"not a database URL: {url!r}") from error
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return backend


def shown(url: str) -> str:
    """The URL with any password masked, fit for a log."""
    return make_url(url).render_as_string(hide_password=True)


def first_line(error: Exception) -> str:
    """A database error in one line: the driver's own message when there is one."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def open_engine(url: str) -> Engine:
    """An engine for ``url`` (``postgresql://`` means psycopg 3); a SQLite file's folder is
    created."""
    backend = check_url(url)
    if backend == "postgresql":
        parsed = make_url(url)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_size=4, max_overflow=4, pool_pre_ping=True)
    return _sqlite_engine(url)


def _sqlite_engine(url: str) -> Engine:
    in_memory = make_url(url).database in (None, "", ":memory:")
    if not in_memory:
        database = make_url(url).database
        assert database is not None
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "connect_args": {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
    }
    if in_memory:  # one connection, or each would see its own empty database
        options["poolclass"] = StaticPool
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _configure(connection: sqlite3.Connection, record: object) -> None:
        connection.isolation_level = None  # SQLAlchemy's "begin" below issues BEGIN itself
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # Take the write lock at the start: a purchase's cap check and insert cannot
        # interleave with another process's, and no transaction fails on lock upgrade.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine

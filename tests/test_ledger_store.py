"""The database layer by itself, on SQLite and PostgreSQL: the split, lifetime earnings,
refunds, idempotency, refusals that store nothing, and migrating an old database."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, inspect, select, text

from media_bench.server.store.database import Database
from media_bench.server.store.engine import open_engine
from media_bench.server.store.ledger import Ledger
from media_bench.server.store.migrations import CURRENT, MigrationError, migrate, version_of
from media_bench.server.store.schema import metadata, refunds, tickets
from sim.revenue import TicketParams, split
from sim.rules.tickets import split_sale
from spaces_core.errors import Refused
from tests.conftest import LedgerDatabase


def opened(url: str, params: TicketParams | None = None) -> Ledger:
    engine = open_engine(url)
    migrate(engine)
    return Ledger(engine, params)


def count(ledger: Ledger, table: object) -> int:
    with ledger.engine.begin() as c:
        return int(c.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("price", "lifetime"), [(5.0, 0.0), (999.0, 49_900.0), (10.0, 49_999.0), (7.0, 60_000.0)]
)
def test_split_sale_is_the_simulations_split_for_one_sale(price: float, lifetime: float) -> None:
    params = TicketParams()
    store, creator, platform = split_sale(price, lifetime, params)
    expected = split(np.array([price]), np.array([lifetime]), params)
    assert (store, creator, platform) == pytest.approx(
        (expected.store[0], expected.creator[0], expected.twitter[0])
    )
    assert store + creator + platform == pytest.approx(price)


def test_a_sale_crossing_the_lifetime_line_is_split_exactly_at_it() -> None:
    params = TicketParams()
    # 70 of net at 97% leaves exactly 67.9 to the line; the other 30 of net at 80%
    _store, creator, _platform = split_sale(100 / 0.7, 50_000 - 67.9, params)
    assert creator == pytest.approx(67.9 + 30 * 0.8)


def test_the_hosts_lifetime_from_the_ledger_sets_the_split(ledger_database: LedgerDatabase):
    params = TicketParams(lifetime_threshold_usd=10.0)
    ledger = opened(ledger_database.url, params)
    first = ledger.create_room("h", "a", 10.0, 5, 1.0)
    other = ledger.create_room("h", "b", 10.0, 5, 1.0)
    for buyer in ("x", "y"):
        ledger.buy_ticket(first, buyer, None, 2.0)
    ledger.buy_ticket(other, "z", None, 2.0)
    creator = [row["creator_usd"] for row in ledger.ticket_rows()]
    assert creator[0] == pytest.approx(7 * 0.97)  # 6.79 earned so far
    assert creator[1] == pytest.approx(10 - 6.79 + (7 - (10 - 6.79) / 0.97) * 0.8)
    assert creator[2] == pytest.approx(7 * 0.8)  # the line is per host, across rooms


def test_a_room_ended_before_its_host_joined_refunds_every_ticket(
    ledger_database: LedgerDatabase,
):
    ledger = opened(ledger_database.url)
    never_started = ledger.create_room("h", "a", 4.0, 5, 1.0)
    started = ledger.create_room("h", "b", 4.0, 5, 1.0)
    for room in (never_started, started):
        ledger.buy_ticket(room, "x", None, 2.0)
        ledger.buy_ticket(room, "y", None, 2.0)
    ledger.mark_started(started, 3.0)
    assert ledger.end_room(never_started, "ended by host", 4.0) == 2
    assert ledger.end_room(started, "ended by host", 4.0) == 0
    assert ledger.end_room(never_started, "again", 5.0) == 0  # ending twice refunds nothing
    refunded = ledger.revenue(never_started)
    assert (refunded.tickets_sold, refunded.refunded, refunded.refunds_usd) == (2, 2, 8.0)
    assert refunded.store_usd == refunded.creator_usd == refunded.platform_usd == 0
    kept = ledger.revenue(started)
    assert kept.refunded == 0 and kept.gross_usd == 8.0
    assert kept.store_usd + kept.creator_usd + kept.platform_usd == pytest.approx(8.0)
    assert count(ledger, tickets) == 4 and count(ledger, refunds) == 2  # rows, not deletions
    record = ledger.room(never_started)
    assert record is not None and not record.live and record.ticket_holders == ("x", "y")


def test_refused_purchases_store_nothing_and_keys_replay(ledger_database: LedgerDatabase):
    ledger = opened(ledger_database.url)
    paid = ledger.create_room("h", "paid", 3.0, 1, 1.0)
    free = ledger.create_room("h", "free", None, None, 1.0)
    first = ledger.buy_ticket(paid, "x", "key-1", 2.0)
    assert ledger.buy_ticket(paid, "x", "key-1", 9.0) == first.__class__(
        paid, "x", 1, 1, replayed=True
    )
    refusals = [
        (paid, "y", None, 409, "sold out"),
        (paid, "x", "key-2", 409, "already holds"),
        (paid, "h", None, 409, "host"),
        (free, "y", None, 409, "free"),
        ("r999", "y", None, 404, "unknown room"),
        (free, "x", "key-1", 422, "another room"),
    ]
    for room, buyer, key, status, words in refusals:
        with pytest.raises(Refused) as refused:
            ledger.buy_ticket(room, buyer, key, 3.0)
        assert refused.value.status == status and words in refused.value.reason
    assert count(ledger, tickets) == 1


def test_room_ids_are_never_reused_and_the_secret_is_kept(ledger_database: LedgerDatabase):
    ledger = opened(ledger_database.url)
    ids = [ledger.create_room("h", "", None, None, 1.0) for _ in range(3)]
    secret = ledger.token_secret()
    again = opened(ledger_database.url)
    assert again.create_room("h", "", None, None, 2.0) == "r4" and ids == ["r1", "r2", "r3"]
    assert again.token_secret() == secret and len(secret) == 32


def test_a_version_1_database_is_migrated_with_its_data(ledger_database: LedgerDatabase):
    engine = open_engine(ledger_database.url)
    assert migrate(engine, target=1) == 0
    with engine.begin() as c:
        assert version_of(c) == 1
        assert "idempotency_key" not in {col["name"] for col in inspect(c).get_columns("tickets")}
        c.execute(text(
            "INSERT INTO rooms (id, host, title, price_usd, cap, status, created_at, served_by) "
            "VALUES ('r1', 'old-host', 'old', 5.0, 3, 'ended', 1.0, 'elsewhere:1:x')"
        ))  # fmt: skip
        c.execute(text(
            "INSERT INTO tickets (room_id, buyer, price_usd, store_usd, creator_usd, "
            "platform_usd, sold_at, number) VALUES ('r1', 'b', 5.0, 1.5, 3.395, 0.105, 1.0, 1)"
        ))  # fmt: skip
    engine.dispose()
    database = Database(ledger_database.url)  # what a server does at start-up
    ledger = database.ledger
    with ledger.engine.begin() as c:
        assert version_of(c) == CURRENT == 3
        found = inspect(c)
        for table in metadata.sorted_tables:
            columns = {col["name"] for col in found.get_columns(table.name)}
            assert columns == set(table.columns.keys()), table.name
    assert [row["buyer"] for row in ledger.ticket_rows()] == ["b"]
    assert ledger.revenue("r1").gross_usd == 5.0
    assert ledger.create_room("h", "", None, None, 2.0) == "r2"
    database.close()


def test_a_database_newer_than_the_code_is_refused(ledger_database: LedgerDatabase):
    engine = open_engine(ledger_database.url)
    migrate(engine)
    with engine.begin() as c:
        c.execute(text(f"UPDATE schema_version SET version = {CURRENT + 1}"))
    with pytest.raises(MigrationError, match=f"schema version {CURRENT + 1}"):
        migrate(engine)

"""The directory of a fleet, on SQLite and PostgreSQL: a version 2 database opens at version 3
with its data, two nodes on one database see each other's workers, and a node that stops
heartbeating is marked lost exactly once, its live rooms ended and its workers unplaceable."""

from __future__ import annotations

import threading

from sqlalchemy import inspect, text

from media_bench.server.settings import Settings
from media_bench.server.store.database import Database
from media_bench.server.store.directory import (
    NODE_LOST,
    Directory,
    WorkerAddress,
    WorkerCounts,
    worker_id,
)
from media_bench.server.store.engine import open_engine
from media_bench.server.store.ledger import Ledger
from media_bench.server.store.migrations import CURRENT, migrate, version_of
from media_bench.server.store.schema import metadata
from tests.conftest import LedgerDatabase

LOST_AFTER = Settings().lost_after


def node(url: str) -> tuple[Ledger, Directory]:
    """A node of its own on the database at ``url``: its own engine (connections), its ledger
    and its directory, named as its ledger names the rooms it opens."""
    engine = open_engine(url)
    migrate(engine)
    ledger = Ledger(engine)
    return ledger, Directory(engine, ledger.served_by)


def addresses(count: int, port: int) -> list[WorkerAddress]:
    return [
        WorkerAddress(i, f"http://127.0.0.1:{port + i}", "127.0.0.1", port + 100 + i)
        for i in range(count)
    ]


def race_to_mark_lost(directories: tuple[Directory, ...], now: float
                      ) -> list[dict[str, list[str]]]:  # fmt: skip
    """Each directory's ``mark_lost`` at once, from threads of its own."""
    results: list[dict[str, list[str]]] = []
    barrier = threading.Barrier(len(directories))

    def notice(directory: Directory) -> None:
        barrier.wait()
        results.append(directory.mark_lost(now, LOST_AFTER))

    threads = [threading.Thread(target=notice, args=(d,)) for d in directories]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_version_2_database_opens_at_version_3_with_its_data(ledger_database: LedgerDatabase):
    engine = open_engine(ledger_database.url)
    assert migrate(engine, target=2) == 0
    with engine.begin() as c:
        assert not inspect(c).has_table("nodes")
        c.execute(text(
            "INSERT INTO rooms (id, host, title, price_usd, cap, status, created_at, served_by,"
            " started_at) VALUES ('r1', 'old-host', 'old', 5.0, 3, 'live', 1.0, 'gone:1:x', 2.0)"
        ))  # fmt: skip
        c.execute(text(
            "INSERT INTO tickets (room_id, buyer, price_usd, store_usd, creator_usd, "
            "platform_usd, sold_at, number, idempotency_key) "
            "VALUES ('r1', 'b', 5.0, 1.5, 3.395, 0.105, 1.0, 1, 'k')"
        ))  # fmt: skip
    engine.dispose()
    database = Database(ledger_database.url)
    with database.ledger.engine.begin() as c:
        assert version_of(c) == CURRENT == 3
        found = inspect(c)
        for table in metadata.sorted_tables:
            columns = {col["name"] for col in found.get_columns(table.name)}
            assert columns == set(table.columns.keys()), table.name
        origin = c.execute(text("SELECT origin_worker FROM rooms WHERE id = 'r1'")).scalar()
    assert origin is None
    record = database.ledger.room("r1")
    assert record is not None and record.live and record.served_by == "gone:1:x"
    assert record.ticket_holders == ("b",) and database.ledger.revenue("r1").gross_usd == 5.0
    assert database.ledger.buy_ticket("r1", "b", "k", 3.0).replayed
    directory = database.directory
    directory.register_node("http://127.0.0.1:1", addresses(1, 9000), 3.0)
    directory.set_origin("r1", worker_id(directory.node_id, 0))
    found_origin = directory.room_origin("r1")
    assert found_origin is not None and found_origin.worker.node_id == directory.node_id
    database.close()


def test_two_nodes_on_one_database_see_each_others_workers(ledger_database: LedgerDatabase):
    (_, a), (_, b) = node(ledger_database.url), node(ledger_database.url)
    a.register_node("http://127.0.0.1:8001", addresses(2, 9000), 1.0)
    b.register_node("http://127.0.0.1:8002", addresses(3, 9200), 1.0)
    expected = sorted([worker_id(a.node_id, i) for i in range(2)]
                      + [worker_id(b.node_id, i) for i in range(3)])  # fmt: skip
    for directory in (a, b):
        assert [w.id for w in directory.alive_workers()] == expected
    assert b.heartbeat({1: WorkerCounts(rooms=2, edges=1, listeners=700)}, 2.0)
    seen = {w.id: w for w in a.alive_workers()}[worker_id(b.node_id, 1)]
    assert seen.counts == WorkerCounts(2, 1, 700) and seen.heartbeat_at == 2.0
    assert (seen.relay_host, seen.relay_port, seen.control_url) == (
        "127.0.0.1", 9301, "http://127.0.0.1:9201")  # fmt: skip
    b.stop_node()
    assert {w.node_id for w in a.alive_workers()} == {a.node_id}
    assert a.mark_lost(100.0, LOST_AFTER) == {a.node_id: []}  # a stopped node is not lost


def test_origin_and_relays_of_a_room(ledger_database: LedgerDatabase):
    ledger, directory = node(ledger_database.url)
    directory.register_node("http://127.0.0.1:8001", addresses(3, 9000), 1.0)
    room = ledger.create_room("h", "t", None, None, 1.0)
    assert directory.room_origin(room) is None
    directory.set_origin(room, worker_id(directory.node_id, 0))
    origin = directory.room_origin(room)
    assert origin is not None and origin.api_url == "http://127.0.0.1:8001"
    assert origin.worker.id == worker_id(directory.node_id, 0)
    for position in (2, 1, 2):  # adding an edge again changes nothing
        directory.add_relay(room, worker_id(directory.node_id, position), 2.0 + position)
    directory.set_relay_listeners(room, worker_id(directory.node_id, 1), 40)
    relays = directory.relays_of(room)
    assert [(r.worker_id, r.listeners, r.opened_at) for r in relays] == [
        (worker_id(directory.node_id, 1), 40, 3.0),
        (worker_id(directory.node_id, 2), 0, 4.0),
    ]
    directory.remove_relay(room, worker_id(directory.node_id, 1))
    assert [r.worker_id for r in directory.relays_of(room)] == [worker_id(directory.node_id, 2)]
    ledger.end_room(room, "ended by host", 5.0)
    assert directory.room_origin(room) is None


def test_a_silent_node_is_marked_lost_once_by_whichever_node_notices(
    ledger_database: LedgerDatabase,
):
    (_, a), (_, b) = node(ledger_database.url), node(ledger_database.url)
    a.register_node("http://127.0.0.1:8001", addresses(1, 9000), 0.0)
    b.register_node("http://127.0.0.1:8002", addresses(1, 9100), 0.0)
    for round_ in range(4):  # each round a fresh silent node, and two nodes racing to notice
        start = 10.0 * round_
        ledger, silent = node(ledger_database.url)
        silent.register_node("http://127.0.0.1:8003", addresses(2, 9200), start)
        ticketed = ledger.create_room("h", "never started", 4.0, 5, start)
        ledger.buy_ticket(ticketed, "buyer", None, start)
        elsewhere, _ = node(ledger_database.url)  # a room opened by A, mixed on the silent node
        mixed_there = elsewhere.create_room("h2", "origin lost", None, None, start)
        silent.set_origin(mixed_there, worker_id(silent.node_id, 1))
        kept = elsewhere.create_room("h3", "origin on A", None, None, start)
        a.set_origin(kept, worker_id(a.node_id, 0))
        a.add_relay(kept, worker_id(silent.node_id, 0), start)
        now = start + LOST_AFTER + 1.0
        for directory in (a, b):
            assert directory.heartbeat({0: WorkerCounts(1, 0, 10)}, now - 0.5)
        results = race_to_mark_lost((a, b), now)
        marked = [result for result in results if result]
        assert marked == [{silent.node_id: [ticketed, mixed_there]}], results
        for room_id, refunded in ((ticketed, 1), (mixed_there, 0)):
            record = ledger.room(room_id)
            assert record is not None and not record.live
            assert record.ended_reason == NODE_LOST and record.refunded == refunded
        still = ledger.room(kept)
        assert still is not None and still.live and a.relays_of(kept) == []
        assert silent.node_id not in {w.node_id for w in a.alive_workers()}
        assert {w.node_id for w in b.alive_workers()} == {a.node_id, b.node_id}
        assert not silent.heartbeat({0: WorkerCounts(0, 0, 0)}, now + 1.0)
        assert a.mark_lost(now + 1.0, LOST_AFTER) == {}
        ledger.end_room(kept, "ended by host", now)


def test_lost_after_is_several_heartbeats() -> None:
    settings = Settings()
    assert settings.lost_after >= 3 * settings.heartbeat_interval

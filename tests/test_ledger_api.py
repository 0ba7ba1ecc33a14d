"""The ledger as the API shows it (in-process servers): refunds, revenue, why a room ended,
a restart on the same data folder, the export command and the serve options."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from media_bench.client.api import ApiClient
from media_bench.common.contract import IDEMPOTENCY_HEADER, TicketTerms
from media_bench.server.harness import running_server
from media_bench.server.openapi import openapi_document
from media_bench.server.settings import Settings
from media_bench.server.store.ledger import Ledger
from media_bench.server.users import User, UserDirectory
from spaces_core.errors import Refused
from spaces_lab import cli
from tests.test_media_api import real_offer

pytestmark = pytest.mark.timeout(60)
USERS = UserDirectory(
    [User("host", 5000, age=35, hosted_30d=4), *(User(f"u{i}", 10) for i in range(10))]
)


async def status_of(call: Any) -> int:
    try:
        await call
    except Refused as refused:
        return refused.status
    return 200


def test_ending_a_room_before_its_host_joined_refunds_and_says_why() -> None:
    async def body() -> None:
        async with running_server(Settings(), USERS) as running, ApiClient(running.url) as api:
            host, buyer, other = [await api.token(u) for u in ("host", "u1", "u2")]
            room = (await api.create_room(host, "paid", TicketTerms(price=5, cap=3))).id
            await api.buy_ticket(buyer, room)
            await api.buy_ticket(other, room)
            assert await status_of(api.revenue(buyer, room)) == 403
            before = await api.revenue(host, room)
            assert (before.tickets_sold, before.gross_usd, before.refunded) == (2, 10.0, 0)
            assert before.store_usd + before.creator_usd + before.platform_usd == 10.0
            assert before.store_usd == 3.0 and before.creator_usd == pytest.approx(6.79)
            ended = await api.end_room(host, room)
            assert ended.ended_reason == "ended by host" and ended.ticket is not None
            assert (ended.ticket.sold, ended.ticket.refunded) == (2, 2)
            after = await api.revenue(host, room)
            assert (after.refunded, after.refunds_usd, after.creator_usd) == (2, 10.0, 0.0)

    asyncio.run(body())


def test_a_room_whose_host_joined_keeps_its_tickets_when_it_ends() -> None:
    async def body() -> None:
        async with running_server(Settings(), USERS) as running, ApiClient(running.url) as api:
            host, buyer = await api.token("host"), await api.token("u1")
            room = (await api.create_room(host, "paid", TicketTerms(price=5, cap=3))).id
            await api.buy_ticket(buyer, room)
            pc, offer = await real_offer()
            await api.join(host, room, offer)
            buyer_pc, buyer_offer = await real_offer()
            await api.join(buyer, room, buyer_offer)
            assert await status_of(api.revenue(buyer, room)) == 403
            await api.act(host, room, "u1", "cohost")
            assert (await api.revenue(buyer, room)).tickets_sold == 1  # co-hosts see it too
            ended = await api.end_room(host, room)
            await pc.close()
            await buyer_pc.close()
            assert ended.ticket is not None and ended.ticket.refunded == 0
            assert (await api.revenue(host, room)).creator_usd == pytest.approx(3.395)

    asyncio.run(body())


def test_a_restart_on_the_same_data_folder_keeps_tickets_tokens_and_ids(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")

    async def first() -> tuple[str, str, str]:
        async with running_server(settings, USERS) as running, ApiClient(running.url) as api:
            host, buyer = await api.token("host"), await api.token("u1")
            room = (await api.create_room(host, "paid", TicketTerms(price=2, cap=3))).id
            await api.buy_ticket(buyer, room, idempotency_key="once")
            return host, buyer, room

    async def second(host: str, buyer: str, room: str) -> None:
        async with running_server(settings, USERS) as running, ApiClient(running.url) as api:
            state = await api.room(buyer, room)  # a token from before the restart
            assert not state.live and state.ended_reason == "server stopped"
            assert state.ticket is not None and state.ticket.sold == 1
            replay = await api.buy_ticket(buyer, room, idempotency_key="once")
            assert replay.sold == 1  # the same answer, no second charge
            assert await status_of(api.buy_ticket(buyer, room)) == 409
            assert await status_of(api.room(host, "r99")) == 404
            assert (await api.create_room(host, "next")).id != room
            assert (await api.rooms(host)).rooms[0].title == "next"

    asyncio.run(second(*asyncio.run(first())))
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"ledger{suffix}"
        assert cli.main(["ledger", "export", "--data-dir", str(tmp_path / "data"),
                         "--out", str(out)]) == 0  # fmt: skip
        table = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        assert list(table.columns) == [
            *("room", "host", "buyer", "price_usd", "store_usd", "creator_usd"),
            *("platform_usd", "sold_at", "refunded"),
        ]
        assert table[["room", "host", "buyer", "price_usd"]].values.tolist() == [
            ["r1", "host", "u1", 2.0]
        ]
        assert bool(table["refunded"].iloc[0]) is True  # stopped before the host joined


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["ledger", "export", "--data-dir", "/no/such/folder", "--out", "x.csv"], "--data-dir"),
        (["ledger", "export", "--database", "sqlite://", "--out", "x.xlsx"], "--out"),
        (["ledger", "export", "--database", "mysql://h/db", "--out", "x.csv"], "--database"),
        (["serve", "--database", "nonsense"], "--database"),
        (["serve", "--database", "sqlite://", "--data-dir", "/tmp/x"], "--database"),
        (["serve", "--secret", ""], "--secret"),
        (["serve", "--port", "0", "--database", "postgresql://nobody@127.0.0.1:1/x"], "--database"),
    ],
)
def test_bad_storage_options_are_one_line_errors(
    argv: list[str], names: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    assert names in capsys.readouterr().err


def test_openapi_declares_the_idempotency_key_and_the_revenue_route() -> None:
    paths = openapi_document()["paths"]
    parameters = paths["/rooms/{room_id}/tickets"]["post"]["parameters"]
    header = [p for p in parameters if p["in"] == "header"]
    assert [p["name"] for p in header] == [IDEMPOTENCY_HEADER]
    revenue = paths["/rooms/{room_id}/revenue"]["get"]
    assert revenue["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RoomRevenue"
    }


def test_messages_and_removals_outlive_a_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")

    async def first() -> tuple[str, str]:
        async with running_server(settings, USERS) as running, ApiClient(running.url) as api:
            host, user = await api.token("host"), await api.token("u1")
            room = (await api.create_room(host, "free")).id
            pc, offer = await real_offer()
            await api.join(user, room, offer)
            await api.send_message(user, room, "hello host")
            await api.act(host, room, "u1", "remove")
            await pc.close()
            return host, room

    async def second(host: str, room: str) -> None:
        async with running_server(settings, USERS) as running, ApiClient(running.url) as api:
            said = (await api.messages(host, room)).messages
            assert [(m.sender, m.text) for m in said] == [("u1", "hello host")]
            assert await status_of(api.messages(await api.token("u2"), room)) == 403
            state = running.server.state
            record = await state.database.call(state.ledger.room, room)
            assert record is not None and record.banned == ("u1",)

    asyncio.run(second(*asyncio.run(first())))


def test_the_ledger_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    for name in ("create_room", "buy_ticket", "revenue", "end_room"):
        method = getattr(Ledger, name)

        def recorded(self: Ledger, *args: Any, _method: Any = method) -> Any:
            threads.append(threading.current_thread().name)
            return _method(self, *args)

        monkeypatch.setattr(Ledger, name, recorded)

    async def body() -> None:
        async with running_server(Settings(), USERS) as running, ApiClient(running.url) as api:
            host, buyer = await api.token("host"), await api.token("u1")
            room = (await api.create_room(host, "paid", TicketTerms(price=1, cap=2))).id
            await api.buy_ticket(buyer, room)
            await api.revenue(host, room)
            await api.end_room(host, room)

    asyncio.run(body())
    assert len(threads) == 4 and all(name.startswith("ledger") for name in threads), threads

"""The ledger through real server processes, on SQLite and on PostgreSQL: no oversell with two
servers on one database, Idempotency-Key over HTTP, and a ``kill -9`` mid-sale: every
acknowledged purchase is there exactly once after a restart, old tokens work, ids are new."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from media_bench.client.api import ApiClient
from media_bench.client.server_process import ServerProcess
from media_bench.common.contract import IDEMPOTENCY_HEADER, TicketTerms
from media_bench.server.store.database import Database
from spaces_core.errors import Refused
from tests.conftest import LedgerDatabase

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
HOSTS = ["h0", "h1", "h2"]  # may sell tickets: 18+, followers, recent Spaces


@pytest.fixture
def users(tmp_path: Path) -> list[str]:
    """Server options naming a directory of ticket-selling hosts and buyers u1..u100."""
    path = tmp_path / "users.csv"
    path.write_text("id,followers,age,hosted_30d\n"
                    + "".join(f"{h},5000,35,4\n" for h in HOSTS)
                    + "".join(f"u{i},10,20,0\n" for i in range(1, 101)))
    return ["--users", str(path)]


async def tokens(api: ApiClient, users: list[str]) -> dict[str, str]:
    return dict(zip(users, await asyncio.gather(*(api.token(u) for u in users)), strict=True))


def test_two_servers_on_one_database_never_oversell(
    ledger_database: LedgerDatabase, users: list[str]
) -> None:
    options = [*ledger_database.options, *users]
    with ServerProcess(options) as first, ServerProcess(options) as second:

        async def body() -> list[int]:
            async with ApiClient(first.url) as a, ApiClient(second.url) as b:
                host = await a.token(HOSTS[0])
                room = (await a.create_room(host, "paid", TicketTerms(price=2.5, cap=10))).id
                buyers = await tokens(a, [f"u{i}" for i in range(1, 41)])  # valid on both

                async def buy(index: int, token: str) -> int:
                    try:
                        await (a if index % 2 else b).buy_ticket(token, room)
                        return 201
                    except Refused as refused:
                        assert refused.reason == "sold out"
                        return refused.status

                outcomes = await asyncio.gather(
                    *(buy(i, t) for i, t in enumerate(buyers.values()))
                )
                revenue = await a.revenue(host, room)
                assert revenue.tickets_sold == 10 and revenue.gross_usd == 25.0
                seen_from_second = (await b.room(host, room)).ticket
                assert seen_from_second is not None and seen_from_second.sold == 10
                return list(outcomes)

        outcomes = asyncio.run(body())
    assert outcomes.count(201) == 10 and outcomes.count(409) == 30


def test_a_retried_purchase_with_its_key_is_one_ticket(
    ledger_database: LedgerDatabase, users: list[str]
) -> None:
    with ServerProcess([*ledger_database.options, *users]) as server:

        async def body() -> None:
            async with ApiClient(server.url) as api:
                host, buyer = await api.token(HOSTS[0]), await api.token("u1")
                room = (await api.create_room(host, "paid", TicketTerms(price=3, cap=5))).id
                other_host = await api.token(HOSTS[1])
                other = (await api.create_room(other_host, "other", TicketTerms(price=3, cap=5))).id
                url = f"{server.url}/rooms/{room}/tickets"

                async def post(key: str) -> tuple[int, Any]:
                    headers = {"Authorization": f"Bearer {buyer}", IDEMPOTENCY_HEADER: key}
                    async with api.session.post(url, headers=headers) as response:
                        return response.status, await response.json()

                retries = await asyncio.gather(*(post("k-1") for _ in range(6)))
                assert len(set(map(repr, retries))) == 1 and retries[0][0] == 201
                assert retries[0][1] == {"room": room, "user": "u1", "sold": 1, "cap": 5}
                for bad in ("", " ", "x" * 201):
                    status, answer = await post(bad)
                    assert status == 400 and IDEMPOTENCY_HEADER in answer["error"]
                assert (await post("k-2"))[0] == 409  # a new key is a new purchase: held
                with pytest.raises(Refused) as refused:
                    await api.buy_ticket(buyer, other, idempotency_key="k-1")
                assert refused.value.status == 422
                assert (await api.revenue(host, room)).tickets_sold == 1
                assert (await api.revenue(other_host, other)).tickets_sold == 0

        asyncio.run(body())


BUYERS = 40
ROOMS = 3
CAP = 15
KILL_AFTER = 25
"""Acknowledged purchases after which the server is killed, with the rest in flight."""


async def buy_until_killed(
    url: str, host: str, rooms: list[str], buyers: dict[str, str], pid: int
) -> set[tuple[str, str]]:
    """Every buyer tries every room at once (retrying a lost answer with its key) until the
    server dies; returns the purchases that got a 2xx."""
    acknowledged: set[tuple[str, str]] = set()
    connector = aiohttp.TCPConnector(limit=BUYERS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def buyer(user: str, token: str) -> None:
            for room in rooms:
                headers = {"Authorization": f"Bearer {token}", IDEMPOTENCY_HEADER: f"{room}"}
                try:
                    async with session.post(f"{url}/rooms/{room}/tickets", headers=headers) as r:
                        await r.read()
                        if 200 <= r.status < 300:
                            acknowledged.add((room, user))
                            if len(acknowledged) == KILL_AFTER:
                                os.kill(pid, signal.SIGKILL)
                except aiohttp.ClientError:
                    return  # the server is gone

        await asyncio.gather(*(buyer(u, t) for u, t in buyers.items()))
    return acknowledged


def test_kill_9_mid_sale_loses_no_acknowledged_purchase(
    ledger_database: LedgerDatabase, users: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    server = ServerProcess([*ledger_database.options, *users])
    server.start()
    try:

        async def before() -> tuple[str, list[str], dict[str, str], set[tuple[str, str]]]:
            async with ApiClient(server.url) as api:
                hosts = [await api.token(h) for h in HOSTS[:ROOMS]]
                rooms = [
                    (await api.create_room(h, f"paid {n}", TicketTerms(price=4, cap=CAP))).id
                    for n, h in enumerate(hosts)
                ]
                host = hosts[0]
                buyers = await tokens(api, [f"u{i}" for i in range(1, BUYERS + 1)])
            acked = await buy_until_killed(server.url, host, rooms, buyers, server.pid)
            return host, rooms, buyers, acked

        host, rooms, buyers, acknowledged = asyncio.run(before())
        server.kill()
        server.start()  # the same data folder or database

        async def after() -> tuple[list[Any], str]:
            async with ApiClient(server.url) as api:
                states = [await api.room(host, room) for room in rooms]  # the old host token
                await api.room(next(iter(buyers.values())), rooms[0])  # and a buyer's
                new = (await api.create_room(host, "after the restart")).id
            return states, new

        states, new_room = asyncio.run(after())
    finally:
        server.stop()
    database = Database(ledger_database.url)
    rows = database.ledger.ticket_rows()
    database.close()
    found = Counter((row["room"], row["buyer"]) for row in rows)
    per_room = Counter(row["room"] for row in rows)
    with capsys.disabled():
        print(
            f"\n[{ledger_database.backend}] kill -9 after {len(acknowledged)} acknowledged "
            f"purchases: {len(rows)} tickets found, {sum(1 for p in acknowledged if found[p])} "
            f"of the acknowledged, {len(set(found) - acknowledged)} committed but unanswered; "
            f"per room {dict(per_room)} (cap {CAP}); new room {new_room} after {rooms}"
        )
    assert len(acknowledged) >= KILL_AFTER
    assert all(found[purchase] == 1 for purchase in acknowledged)
    assert max(found.values()) == 1 and all(n <= CAP for n in per_room.values())
    assert new_room not in rooms and int(new_room[1:]) > max(int(r[1:]) for r in rooms)
    for state in states:
        assert not state.live and state.ended_reason == "server restart"
        assert state.ticket is not None and state.ticket.sold == per_room[state.id]
        # the host never joined: the room never started, so every ticket was refunded
        assert state.ticket.refunded == state.ticket.sold

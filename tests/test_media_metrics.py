"""/metrics: the process's CPU and memory and the tickets sold, beside the room metrics."""

from __future__ import annotations

import functools
import re
import time
from typing import Any

from media_bench.client.api import ApiClient
from media_bench.common.contract import TicketTerms
from media_bench.server.harness import Running
from tests.test_media_api import expect, run


def value(metrics: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_metrics_count_tickets_sold_and_show_the_process() -> None:
    async def body(running: Running, api: ApiClient) -> tuple[str, str]:
        host = await api.token("host")
        rid = (await api.create_room(host, "paid", TicketTerms(price=3.0, cap=2))).id
        before = await api.metrics_text()
        for user in ("u1", "u2"):
            await api.buy_ticket(await api.token(user), rid)
        await expect(409, api.buy_ticket(await api.token("u3"), rid))  # sold out: not counted
        return before, await api.metrics_text()

    before, after = run(body)
    assert value(before, "spaces_tickets_sold_total") == 0
    assert value(after, "spaces_tickets_sold_total") == 2
    assert value(after, "process_cpu_seconds_total") > 0
    assert value(after, "process_resident_memory_bytes") > 10 * 2**20


def test_metrics_time_the_ledger_calls_and_show_a_slow_one() -> None:
    async def body(running: Running, api: ApiClient) -> tuple[str, str]:
        host = await api.token("host")
        rid = (await api.create_room(host, "paid", TicketTerms(price=3.0, cap=5))).id
        await api.buy_ticket(await api.token("u1"), rid)
        fast = await api.metrics_text()
        ledger = running.server.state.ledger
        quick_sale = ledger.buy_ticket

        @functools.wraps(quick_sale)  # the same operation name
        def slow_sale(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.3)  # a slow commit, as a loaded database gives
            return quick_sale(*args, **kwargs)

        ledger.buy_ticket = slow_sale  # type: ignore[method-assign]
        await api.buy_ticket(await api.token("u2"), rid)
        return fast, await api.metrics_text()

    fast, slow = run(body)
    sale = 'spaces_database_seconds_{}{{operation="buy_ticket"}}'
    assert value(fast, sale.format("count")) == 1 and value(fast, sale.format("sum")) < 0.3
    assert value(slow, sale.format("count")) == 2 and value(slow, sale.format("sum")) >= 0.3
    assert value(slow, 'spaces_database_seconds_count{operation="create_room"}') == 1

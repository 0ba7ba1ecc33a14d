"""/metrics: the process's CPU and memory and the tickets sold, beside the room metrics."""

from __future__ import annotations

import re

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

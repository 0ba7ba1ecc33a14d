"""Server-sent events read from a byte-line stream: the one parser the client side uses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any


async def sse_data(lines: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """The data of each event: ``data:`` lines joined by newlines, sent at each blank line;
    comments (``:``) and other fields are skipped."""
    data: list[str] = []
    async for raw in lines:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    # an event cut off before its blank line is dropped, as browsers do


async def sse_json(lines: AsyncIterable[bytes]) -> AsyncIterator[dict[str, Any]]:
    """Each event's data parsed as a JSON object."""
    async for data in sse_data(lines):
        event = json.loads(data)
        if not isinstance(event, dict):
            raise ValueError(f"an event is not a JSON object: {data[:80]!r}")
        yield event

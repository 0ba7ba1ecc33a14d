"""Request handlers, one module per resource; ``handlers`` maps operation ids to them."""

from __future__ import annotations

from media_bench.server.refusals import Handler
from media_bench.server.routes import members, rooms, service, streams, users
from media_bench.server.state import ServerState


def handlers(state: ServerState) -> dict[str, Handler]:
    found: dict[str, Handler] = {}
    for module in (service, users, rooms, members, streams):
        found.update(module.handlers(state))
    return found

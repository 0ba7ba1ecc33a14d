"""Who may call what: every role x every route that needs a token, against the README's table.

Each cell runs on a fresh room in which every role is already in place (host, co-host, a
muted speaker, a listener, an invited listener, a removed user, a listener who asked to
speak, and an outsider who never joined), calls one route as one role and compares the
status with the table below. The table mirrors the README route table's "Who may call"
column: each column repeats that text, and the test fails if it changes in the contract, if a
route needing a token has no column, or if any cell differs; it prints the whole matrix.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from media_bench.client.api import ApiClient
from media_bench.common.contract import ACTIONS, ROUTES, ROUTES_BY_OPERATION, TicketTerms
from media_bench.server.harness import Running, running_server
from media_bench.server.live import LiveRoom
from media_bench.server.settings import Settings
from media_bench.server.store.ledger import ENDED_BY_HOST
from media_bench.server.users import User, UserDirectory
from tests.test_media_api import real_offer

pytestmark = pytest.mark.timeout(120)

ROLES = ("host", "cohost", "speaker", "listener", "invited", "removed", "outsider",
         "no token", "expired")  # fmt: skip
MEMBER_OF_ROLE = {
    "host": "host", "cohost": "co", "speaker": "sp", "listener": "li", "invited": "iv",
    "removed": "rm", "outsider": "out",
}  # fmt: skip
TARGET = "tg"
"""A listener who asked to speak: the target of invite, accept, cohost and remove."""
USERS = UserDirectory(
    [User("host", 5000, age=35, hosted_30d=4),  # may sell tickets
     *(User(u, 10) for u in ("co", "sp", "li", "iv", "rm", "out", TARGET))]
)


@dataclass(frozen=True)
class Column:
    operation: str
    who: str
    """The route's "Who may call", as the README says it."""
    expected: tuple[int, ...]
    """One status per role of ``ROLES``."""
    action: str = ""
    target: str = ""
    ticketed: bool = False

    @property
    def label(self) -> str:
        kind = " (ticketed)" if self.ticketed else ""
        return f"{self.operation}:{self.action}{kind}" if self.action else self.operation + kind


ANY_HOLDER = "any token holder"
PARTICIPANT = "participant"
MODERATORS = "host and co-hosts"
ACT = "host and co-hosts; a speaker may also mute or step down itself, and only it unmutes"
JOIN = "host; anyone not removed (ticket holders only in ticketed rooms)"
# fmt: off
#                          host cohost speaker listener invited removed outsider none expired
TABLE = (
    Column("list_rooms", ANY_HOLDER,          (200, 200, 200, 200, 200, 200, 200, 401, 401)),
    Column("lobby_events", ANY_HOLDER,        (200, 200, 200, 200, 200, 200, 200, 401, 401)),
    # the host already hosts the cell's room: one live room per host (409)
    Column("create_room",
           "users at or above the server's follower threshold, and for a ticketed room those "
           "meeting the Ticketed Spaces rules (can_host_ticketed); others get 403 naming the rule",
                                              (409, 403, 403, 403, 403, 403, 403, 401, 401)),
    Column("get_room", ANY_HOLDER,            (200, 200, 200, 200, 200, 200, 200, 401, 401)),
    Column("list_participants", ANY_HOLDER,   (200, 200, 200, 200, 200, 200, 200, 401, 401)),
    Column("end_room", "host",                (200, 403, 403, 403, 403, 403, 403, 401, 401)),
    # members already hold tickets (409), the host needs none (409)
    Column("buy_ticket", ANY_HOLDER,          (409, 409, 409, 409, 409, 409, 201, 401, 401),
           ticketed=True),
    # members are already in the room (409)
    Column("join", JOIN,                      (409, 409, 409, 409, 409, 403, 200, 401, 401)),
    Column("join", JOIN,                      (409, 409, 409, 409, 409, 403, 403, 401, 401),
           ticketed=True),
    Column("leave", PARTICIPANT,              (200, 200, 200, 200, 200, 404, 404, 401, 401)),
    # those who already speak: 409
    Column("request_to_speak", "listener",    (409, 409, 409, 200, 200, 404, 404, 401, 401)),
    Column("accept_invite", "invited listener",
                                              (409, 409, 409, 409, 200, 404, 404, 401, 401)),
    Column("act", ACT, action="invite", target=TARGET,
           expected=                          (200, 200, 403, 403, 403, 403, 403, 401, 401)),
    Column("act", ACT, action="accept", target=TARGET,
           expected=                          (200, 200, 403, 403, 403, 403, 403, 401, 401)),
    Column("act", ACT, action="listener", target="sp",
           expected=                          (200, 200, 200, 403, 403, 403, 403, 401, 401)),
    Column("act", ACT, action="mute", target="sp",
           expected=                          (200, 200, 200, 403, 403, 403, 403, 401, 401)),
    Column("act", ACT, action="unmute", target="sp",
           expected=                          (403, 403, 200, 403, 403, 403, 403, 401, 401)),
    Column("act", ACT, action="cohost", target=TARGET,
           expected=                          (200, 200, 403, 403, 403, 403, 403, 401, 401)),
    Column("act", ACT, action="remove", target=TARGET,
           expected=                          (200, 200, 403, 403, 403, 403, 403, 401, 401)),
    Column("send_message", PARTICIPANT,       (201, 201, 201, 201, 201, 404, 404, 401, 401)),
    Column("read_messages", MODERATORS,       (200, 200, 403, 403, 403, 403, 403, 401, 401)),
    Column("room_events", PARTICIPANT,        (200, 200, 200, 200, 200, 404, 404, 401, 401)),
    Column("room_revenue", MODERATORS,        (200, 200, 403, 403, 403, 403, 403, 401, 401),
           ticketed=True),
)
# fmt: on
BODIES: dict[str, Any] = {"create_room": {"title": "another"}, "send_message": {"text": "hi"}}


def test_the_table_covers_every_route_that_needs_a_token_as_the_readme_says() -> None:
    needing = {route.operation for route in ROUTES if route.auth}
    assert {column.operation for column in TABLE} == needing
    assert {c.action for c in TABLE if c.operation == "act"} == set(ACTIONS)
    for column in TABLE:
        assert column.who == ROUTES_BY_OPERATION[column.operation].who, column.label
        assert len(column.expected) == len(ROLES), column.label


async def seat_everyone(live: LiveRoom) -> None:
    """Every role in place, as the room's own rules would put them (no media needed; in a
    ticketed room the members bought their tickets first)."""
    room = live.room
    for user in ("host", "co", "sp", "li", "iv", "rm", TARGET):
        room.join(user)
    room.act("host", "cohost", "co")
    room.act("host", "invite", "sp")
    room.accept_invite("sp")
    room.act("sp", "mute", "sp")
    room.act("host", "invite", "iv")
    room.act("host", "remove", "rm")
    room.request_to_speak(TARGET)
    await live.sync()


async def call_cell(
    session: aiohttp.ClientSession, url: str, column: Column, token: str | None, room_id: str,
    offer: str,
) -> int:
    route = ROUTES_BY_OPERATION[column.operation]
    path = route.url(room_id=room_id, user_id=column.target, action=column.action)
    body = {"sdp": offer} if column.operation == "join" else BODIES.get(column.operation)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(route.method, url + path, json=body, headers=headers) as response:
        if response.status >= 400:
            assert "error" in await response.json(), (column.label, response.status)
        return response.status  # an event stream is closed here, unread


async def end_every_room(running: Running) -> None:
    for live in list(running.server.rooms.values()):
        if live.room.live:
            await live.finish(running.server.state.database, ENDED_BY_HOST)


async def fill_matrix() -> dict[tuple[str, str], int]:
    got: dict[tuple[str, str], int] = {}
    # The host sets up ~400 rooms in seconds: far over the per-user rate bound, which is not
    # what this test is about (test_media_abuse is).
    unbounded = Settings(rate_per_second=1e6, rate_burst=1_000_000)
    async with running_server(unbounded, USERS) as running, ApiClient(running.url) as api:
        tokens: dict[str, str | None] = {
            role: await api.token(user) for role, user in MEMBER_OF_ROLE.items()
        }
        ticket_holders = [await api.token(u) for u in ("co", "sp", "li", "iv", "rm", TARGET)]
        tokens["no token"] = None
        tokens["expired"] = running.server.signer.issue("host", now=0.0)  # the host's, expired
        pc, offer = await real_offer()
        session = api.session
        for column in TABLE:
            for role in ROLES:
                ticket = TicketTerms(price=1.0, cap=50) if column.ticketed else None
                room_id = (await api.create_room(tokens["host"] or "", "matrix", ticket)).id
                if ticket is not None:  # through the ledger, as a real purchase
                    for holder in ticket_holders:
                        await api.buy_ticket(holder, room_id)
                await seat_everyone(running.server.rooms[room_id])
                got[(column.label, role)] = await call_cell(
                    session, running.url, column, tokens[role], room_id, offer
                )
                await end_every_room(running)
        await pc.close()
    return got


def render(got: dict[tuple[str, str], int]) -> str:
    width = max(len(column.label) for column in TABLE) + 1
    lines = [" " * width + "".join(f"{role[:9]:>10}" for role in ROLES)]
    for column in TABLE:
        cells = []
        for role, expected in zip(ROLES, column.expected, strict=True):
            status = got[(column.label, role)]
            cells.append(f"{status}{'' if status == expected else '!=' + str(expected):>7}")
        lines.append(f"{column.label:<{width}}" + "".join(f"{cell:>10}" for cell in cells))
    return "\n".join(lines)


def test_every_role_gets_the_status_the_route_table_says() -> None:
    got = asyncio.run(fill_matrix())
    print(f"\nauthorization matrix: {len(got)} cells ('!=' marks a cell that differs)")
    print(render(got))
    differing = [
        (column.label, role, got[(column.label, role)], expected)
        for column in TABLE
        for role, expected in zip(ROLES, column.expected, strict=True)
        if got[(column.label, role)] != expected
    ]
    assert len(got) == len(TABLE) * len(ROLES)
    assert not differing, differing

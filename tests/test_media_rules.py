"""The server follows the product's rules (``sim.rules``): ticket prices, who may sell
tickets, the stage's seats, and the follower threshold of a policy date."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from media_bench.client.api import ApiClient
from media_bench.common.contract import TicketTerms
from media_bench.server import options
from media_bench.server.harness import Running, running_server
from media_bench.server.settings import Settings
from media_bench.server.users import UserDirectory
from sim.policy import PolicyParams
from sim.rules.rooms import MAX_SPEAKERS
from spaces_core.errors import CliError
from spaces_lab.cli import build_parser
from tests.test_media_api import expect, join_peers, raw

pytestmark = pytest.mark.timeout(90)

USERS_CSV = """id,followers,age,hosted_30d
seller,5000,30,3
minor,5000,17,9
few,999,30,9
rare,5000,30,2
unknown,5000,,9
""" + "".join(f"u{i},10,20,0\n" for i in range(MAX_SPEAKERS + 2))


def run(tmp_path: Path, body: Callable[[Running, ApiClient], Awaitable[Any]]) -> Any:
    path = tmp_path / "users.csv"
    path.write_text(USERS_CSV)
    users = UserDirectory.load(path)

    async def scenario() -> Any:
        async with running_server(Settings(), users) as running, ApiClient(running.url) as api:
            return await body(running, api)

    return asyncio.run(scenario())


@pytest.mark.parametrize("price", [b"0", b"1000", b"1e308", b"0.5"])
def test_a_price_outside_1_to_999_is_a_400_naming_the_field(tmp_path: Path, price: bytes) -> None:
    async def body(running: Running, api: ApiClient) -> None:
        seller = await api.token("seller")
        data = b'{"ticket": {"price": ' + price + b', "cap": 3}}'
        status, answer = await raw(api, "POST", "/rooms", seller, data)
        assert status == 400 and "ticket.price" in answer["error"], answer
        assert "1" in answer["error"] and "999" in answer["error"]
        assert (await api.rooms(seller)).rooms == []
        assert (await api.user("seller")).hosted_30d == 3
        for edge in (1, 999):
            room = await api.create_room(seller, "edge", TicketTerms(price=edge, cap=3))
            assert room.ticket is not None and room.ticket.price == edge
            await api.end_room(seller, room.id)  # one live room per host

    run(tmp_path, body)


@pytest.mark.parametrize(
    ("user", "words"),
    [
        ("minor", "18 years old (is 17)"),
        ("few", "1,000 followers (has 999)"),
        ("rare", "3 Spaces in the last 30 days (hosted 2)"),
        ("unknown", "18 years old (age unknown)"),
    ],
)
def test_an_ineligible_host_of_a_ticketed_room_gets_403_naming_the_rule(
    tmp_path: Path, user: str, words: str
) -> None:
    async def body(running: Running, api: ApiClient) -> None:
        token = await api.token(user)
        view = await api.user(user)
        assert view.can_host and not view.can_host_ticketed
        reason = await expect(403, api.create_room(token, "paid", TicketTerms(price=5, cap=3)))
        assert words in reason and reason.count("must") == 1, reason
        assert (await api.rooms(token)).rooms == []
        assert (await api.user(user)).hosted_30d == view.hosted_30d
        free = await api.create_room(token, "free")  # a free room needs no ticketed rules
        assert free.ticket is None

    run(tmp_path, body)


def test_rooms_hosted_here_count_towards_the_30_day_history(tmp_path: Path) -> None:
    async def body(running: Running, api: ApiClient) -> None:
        token = await api.token("rare")
        await expect(403, api.create_room(token, "paid", TicketTerms(price=5, cap=3)))
        free = await api.create_room(token, "free")
        await api.end_room(token, free.id)  # one live room per host
        view = await api.user("rare")
        assert view.hosted_30d == 3 and view.can_host_ticketed
        assert (await api.create_room(token, "paid", TicketTerms(price=5, cap=3))).ticket

    run(tmp_path, body)


def test_rooms_hosted_before_a_restart_still_count(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(USERS_CSV)
    users = UserDirectory.load(path)
    settings = Settings(data_dir=tmp_path / "data")

    async def hosted_30d(create: bool) -> int:
        async with running_server(settings, users) as running, ApiClient(running.url) as api:
            if create:
                await api.create_room(await api.token("rare"), "free")
            return (await api.user("rare")).hosted_30d

    assert asyncio.run(hosted_30d(create=True)) == 3
    assert asyncio.run(hosted_30d(create=False)) == 3  # read back from the database


def test_the_user_view_and_list_carry_age_history_and_ticketed_eligibility(
    tmp_path: Path,
) -> None:
    async def body(running: Running, api: ApiClient) -> None:
        seller = await api.user("seller")
        assert (seller.age, seller.hosted_30d, seller.can_host_ticketed) == (30, 3, True)
        assert (await api.user("unknown")).age is None
        listed = {u.id: u for u in (await api.users(limit=100)).users}
        assert {u for u, v in listed.items() if v.can_host_ticketed} == {"seller"}

    run(tmp_path, body)


@pytest.mark.timeout(120)
def test_the_11th_plain_speaker_is_refused_with_409(tmp_path: Path) -> None:
    async def body(running: Running, api: ApiClient) -> None:
        host = await api.token("seller")
        rid = (await api.create_room(host, "stage")).id
        names = [f"u{i}" for i in range(MAX_SPEAKERS + 1)]
        tokens = [await api.token(name) for name in names]
        pcs = await join_peers(api, rid, [host, *tokens])
        try:
            for token in tokens:
                await api.call("POST", f"/rooms/{rid}/requests", token)
            for name in names[:MAX_SPEAKERS]:
                await api.act(host, rid, name, "accept")
            before = await api.room(host, rid)
            reason = await expect(409, api.act(host, rid, names[-1], "accept"))
            assert f"{MAX_SPEAKERS} speakers" in reason
            assert await api.room(host, rid) == before and len(before.speakers) == MAX_SPEAKERS
            state = await api.act(host, rid, names[-1], "cohost")  # a co-host's seat is free
            assert state.cohosts == [names[-1]]
        finally:
            for pc in pcs:
                await pc.close()

    run(tmp_path, body)


@pytest.mark.parametrize(
    ("day", "threshold"),
    [("2021-06-01", 600), ("2021-05-03", 600), ("2021-10-21", 0), ("2023-01-01", 0)],
)
def test_policy_date_takes_the_threshold_from_the_policy_timeline(day: str, threshold: int) -> None:
    args = build_parser().parse_args(["serve", "--policy-date", day])
    assert options.settings_from(args).host_threshold == threshold
    assert threshold == PolicyParams().threshold_on(date.fromisoformat(day))


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--policy-date", "2021-06-01", "--host-threshold", "5"], "mutually exclusive"),
        (["--policy-date", "2021-02-30"], "--policy-date must be a date"),
        (["--policy-date", "2021-01-10"], "invite-only beta"),
        (["--policy-date", "2020-06-01"], "before Spaces' beta"),
    ],
)
def test_bad_policy_dates_are_one_line_errors(argv: list[str], words: str) -> None:
    args = build_parser().parse_args(["serve", *argv])
    with pytest.raises(CliError, match=words):
        options.settings_from(args)


def test_policy_date_threshold_decides_who_may_host(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("id,followers\nsmall,100\n")

    async def scenario(day: str) -> bool:
        args = build_parser().parse_args(["serve", "--policy-date", day])
        async with (
            running_server(options.settings_from(args), UserDirectory.load(path)) as running,
            ApiClient(running.url) as api,
        ):
            return (await api.user("small")).can_host

    assert not asyncio.run(scenario("2021-06-01"))
    assert asyncio.run(scenario("2021-11-01"))

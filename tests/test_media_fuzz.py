"""Property-based fuzz of the served API (schemathesis), while a live room keeps playing.

Every operation of the served ``/openapi.json`` is fuzzed with valid and invalid data
(schemathesis' positive and negative modes) under valid, forged, expired, garbage and missing
tokens, against a real server process on loopback. Every answer must be a declared status,
never a 5xx, every refusal a JSON ``{"error": reason}``, invalid data never a 2xx, a bad token
on a route that needs one always 401. Meanwhile a speaker bot plays a tone in a live room and
a listener bot must hear it dominate what it decoded.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from media_bench.client.server_process import ServerProcess
from media_bench.common.contract import ROUTES_BY_OPERATION, Route
from media_bench.server.options import SECRET_ENV
from media_bench.server.settings import Settings
from media_bench.server.tokens import TokenSigner
from tests.live_room import LiveRoom, tone_dominates
from tests.test_media_api import real_offer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SECRET = "fuzz-secret"
HOST, LISTENER, FUZZER, SMALL, ENDER = "host", "listener", "fuzzer", "small", "ender"
USERS = [
    {"id": HOST, "followers": 5000},
    {"id": LISTENER, "followers": 10},
    {"id": FUZZER, "followers": 5000},
    {"id": SMALL, "followers": 3},
    {"id": ENDER, "followers": 5000},
]
EXAMPLES = {"positive": 15, "negative": 15}
"""Hypothesis examples per operation and mode."""
VALID_WEIGHT = 4
"""A valid token is drawn this many times as often as each bad one: a bad token is refused
before anything else is looked at, so a few cases per operation cover it."""
STREAMS = {"lobby_events", "room_events"}
"""Operations that answer with an endless stream when allowed: fuzzed with bad tokens only
(a valid token would open a stream the fuzzer never closes)."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass
class Tally:
    cases: int = 0
    by_status: Counter[int] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    users = tmp_path_factory.mktemp("fuzz") / "users.json"
    users.write_text(json.dumps(USERS))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_ENV, SECRET)
        # The fuzzer's user sends far over the per-user rate bound; every case is to reach the
        # handlers (test_media_abuse tests the 429s).
        unbounded = ["--rate-limit", "100000", "--rate-burst", "100000"]
        with ServerProcess(["--users", str(users), *unbounded]) as process:
            yield process


def tokens(url: str) -> dict[str, str | None]:
    def issue(user: str) -> str:
        answer = requests.post(f"{url}/auth/token", json={"user": user}, timeout=10)
        token: str = answer.json()["token"]
        return token

    valid = issue(FUZZER)
    return {
        "valid": valid,
        "small": issue(SMALL),
        "forged": valid[:-3] + ("AAA" if not valid.endswith("AAA") else "BBB"),
        "expired": TokenSigner(SECRET.encode()).issue(FUZZER, now=0.0),
        "garbage": "not-a-token",
        "missing": None,
    }


def ended_room(url: str) -> str:
    """A room that has ended (its id stays known: actions on it must get 409)."""
    token = requests.post(f"{url}/auth/token", json={"user": ENDER}, timeout=10).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    room_id: str = requests.post(f"{url}/rooms", json={}, headers=headers, timeout=10).json()["id"]
    requests.post(f"{url}/rooms/{room_id}/end", headers=headers, timeout=10).raise_for_status()
    return room_id


async def offer_sdp() -> str:
    pc, sdp = await real_offer()
    await pc.close()
    return sdp


def check_refusal(operation: str, token_kind: str, response: requests.Response | Any) -> None:
    """What schemathesis does not check: refusals are JSON reasons, bad tokens get 401."""
    status = response.status_code
    assert status < 500, (operation, status, response.text)
    body: Any = {}
    if status >= 400:
        try:
            body = json.loads(response.text)
        except ValueError:
            text = response.text[:200]
            raise AssertionError(f"{operation} {status}: not JSON: {text!r}") from None
        assert isinstance(body, dict) and isinstance(body.get("error"), str), response.text
        assert body["error"].strip(), (operation, status)
    route = ROUTES_BY_OPERATION[operation]
    bad_token = token_kind not in ("valid", "small")
    if route.auth and bad_token:
        unrouted = status == 404 and body.get("error") == "Not Found"  # path did not match
        assert status == 401 or unrouted, (operation, token_kind, status, response.text)


def end_created_room(url: str, operation: str, response: Any, token: str | None) -> None:
    """Keep the fuzzer free to create rooms: end each one it managed to create."""
    if operation == "create_room" and response.status_code == 201:
        room_id = json.loads(response.text)["id"]
        headers = {"Authorization": f"Bearer {token}"}
        requests.post(f"{url}/rooms/{room_id}/end", headers=headers, timeout=10)


def generation_modes(route: Route) -> list[schemathesis.GenerationMode]:
    """Valid data, and invalid data where there is something to make invalid: a body, a
    query or an enumerated path parameter (any text is a valid id)."""
    modes = [schemathesis.GenerationMode.POSITIVE]
    if route.body is not None or route.query is not None or "action" in route.path_parameters:
        modes.append(schemathesis.GenerationMode.NEGATIVE)
    return modes


def fuzz_operation(
    operation: Any, url: str, known_rooms: list[str], tally: Tally, kinds: dict[str, str | None]
) -> None:
    operation_id = operation.definition.raw["operationId"]
    token_kinds = [kind for kind in kinds for _ in range(VALID_WEIGHT if kind == "valid" else 1)]
    if operation_id in STREAMS:
        token_kinds = [kind for kind in token_kinds if kind not in ("valid", "small")]
    route = ROUTES_BY_OPERATION[operation_id]
    session = requests.Session()
    for mode in generation_modes(route):
        strategies = [operation.as_strategy(generation_mode=mode)]
        if "room_id" in route.path_parameters:
            strategies += [
                operation.as_strategy(generation_mode=mode, path_parameters={"room_id": room})
                for room in known_rooms
            ]

        @settings(
            max_examples=EXAMPLES[mode.value],
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies), token_kind=st.sampled_from(token_kinds))
        def run_case(case: schemathesis.Case[Any], token_kind: str) -> None:
            token = kinds[token_kind]
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
            response = case.call(base_url=url, session=session, headers=headers, timeout=10)
            tally.cases += 1
            tally.by_status[response.status_code] += 1
            try:
                check_refusal(operation_id, token_kind, response)
            except AssertionError as failure:
                sent = response.request
                failure.add_note(f"{sent.method} {sent.url} headers {dict(sent.headers)}")
                raise
            case.validate_response(response, checks=CHECKS, headers=headers)
            end_created_room(url, operation_id, response, token)

        run_case()


def test_fuzzed_api_answers_every_case_with_a_declared_4xx_and_the_room_plays_on(
    server: ServerProcess,
) -> None:
    url = server.url
    # The token is the test's to choose (each kind is one of the cases), not a parameter
    # for schemathesis to leave out or mangle.
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
    kinds = tokens(url)
    tally = Tally()
    with LiveRoom(url, HOST, LISTENER) as live:
        known_rooms = [live.room_id, ended_room(url)]
        live.start_recording()
        began = time.monotonic()
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            fuzz_operation(result.ok(), url, known_rooms, tally, kinds)
        live_room, ended = known_rooms
        hand = hand_written_cases(live_room, ended, live.run(offer_sdp()))
        run_hand_written(url, hand, kinds)
        heard, seconds = live.heard(), live.heard_seconds()
        fuzzed = time.monotonic() - began
    statuses = dict(sorted(tally.by_status.items()))
    operations = len(ROUTES_BY_OPERATION)
    print(f"\nfuzz: {tally.cases} generated and {len(hand)} hand-written cases across "
          f"{operations} operations; statuses {statuses}; "
          f"the listener decoded {seconds:.1f} s during the {fuzzed:.1f} s of the fuzz")
    assert tally.cases >= 400
    # the room played on throughout: audio for most of the fuzz, however long the fuzz took
    assert seconds > 0.7 * fuzzed and seconds > 1
    assert tone_dominates(heard), "the live room's tone did not dominate what was heard"


@dataclass(frozen=True)
class HandCase:
    """One malformed request, the status it must get and words its reason must contain."""

    method: str
    path: str
    body: bytes
    status: int
    words: str
    token: str = "valid"


def sdp_variants(good: str, max_body: int) -> dict[str, tuple[str, int, str]]:
    """Broken versions of a real offer: name -> (sdp, status, words of the reason)."""
    lines = good.split("\r\n")
    fingerprint = next(i for i, line in enumerate(lines) if line.startswith("a=fingerprint:"))
    half_fingerprint = "\r\n".join([*lines[:fingerprint], lines[fingerprint][:30]])
    video = good.replace("m=audio", "m=video").replace("opus/48000/2", "VP8/90000")
    pcmu_only = "\r\n".join(
        line.replace(line.split(" ", 3)[3], "0") if line.startswith("m=audio") else line
        for line in lines
        if "opus" not in line.lower()
    )
    padding = "\r\n".join(f"a=x-pad:{'x' * 200}" for _ in range(max_body // 200 + 1))
    return {
        "truncated at a quarter": (good[: len(good) // 4], 400, "sdp"),
        "truncated at half": (good[: len(good) // 2], 400, "sdp"),
        "truncated in the fingerprint": (half_fingerprint, 400, "sdp"),
        "video only": (video, 400, "audio"),
        "no Opus": (pcmu_only, 400, "opus"),
        "no ICE credentials": (
            "\r\n".join(line for line in lines if not line.startswith("a=ice-")), 400, "ice"
        ),
        "huge": (good + padding, 413, "too large"),
        "binary junk": ("v=0\r\n" + "\x00\x01\x02" * 50, 400, "sdp"),
    }


def hand_written_cases(live_room: str, ended: str, good_sdp: str) -> list[HandCase]:
    max_body = Settings().max_body
    huge_title = b'{"title": "' + b"x" * (max_body + 1) + b'"}'
    cases = [
        HandCase("POST", f"/rooms/{live_room}/join", json.dumps({"sdp": sdp}).encode(), st_, w)
        for sdp, st_, w in sdp_variants(good_sdp, max_body).values()
    ]
    deep = b"[" * 100_000 + b"]" * 100_000
    cases += [
        HandCase("POST", "/rooms", huge_title, 413, "too large"),
        HandCase("POST", "/auth/token", b'{"user": "' + b"u" * (max_body + 1) + b'"}', 413,
                 "too large", token="missing"),
        HandCase("POST", f"/rooms/{live_room}/messages", b'{"text": "' + b"m" * max_body + b'"}',
                 413, "too large"),
        HandCase("POST", "/rooms", b"[" * 20_000 + b"]" * 20_000, 400, "JSON"),
        HandCase("POST", "/rooms", b'{"title": ' * 5_000 + b"1" + b"}" * 5_000, 400, "JSON"),
        HandCase("POST", "/rooms", deep[:60_000], 400, "JSON"),
        HandCase("POST", "/rooms", b"\xff\xfe\x00garbage", 400, "JSON"),
        HandCase("POST", "/rooms", b'{"ticket": {"price": NaN, "cap": 3}}', 400, "price"),
        HandCase("POST", "/rooms", b'{"ticket": {"price": 1, "cap": 1' + b"0" * 5000 + b"}}",
                 400, "JSON"),
        HandCase("GET", "/users?limit=99999999999999999999999", b"", 400, "limit"),
        HandCase("GET", "/users?limit=1e3", b"", 400, "integers"),
        HandCase("GET", "/users?lmit=5", b"", 400, "lmit"),
        HandCase("GET", "/rooms/r999999", b"", 404, "unknown room"),
        HandCase("GET", "/rooms/" + "%F0%9F%8E%A4" * 300, b"", 404, "unknown room"),
        HandCase("POST", "/rooms/r999999/end", b"", 404, "unknown room"),
        HandCase("POST", f"/rooms/{live_room}/participants/ghost/mute", b"", 404, "unknown user"),
        HandCase("POST", f"/rooms/{live_room}/participants/host/dance", b"", 404, "action"),
        HandCase("GET", "/users/ghost", b"", 404, "unknown user", token="missing"),
        HandCase("GET", "/static/..%2F..%2Fapp.py", b"", 404, "no such file", token="missing"),
        HandCase("GET", "/static/index.html%00", b"", 404, "no such file", token="missing"),
        HandCase("POST", f"/rooms/{ended}/join", json.dumps({"sdp": good_sdp}).encode(), 409,
                 "ended"),
        HandCase("POST", f"/rooms/{ended}/tickets", b"", 409, "ended"),
        HandCase("POST", f"/rooms/{ended}/end", b"", 409, "ended"),
        HandCase("POST", f"/rooms/{ended}/messages", b'{"text": "hi"}', 409, "ended"),
        HandCase("POST", f"/rooms/{ended}/requests", b"", 409, "ended"),
        HandCase("POST", f"/rooms/{ended}/invitation/accept", b"", 409, "ended"),
        HandCase("POST", f"/rooms/{ended}/participants/host/invite", b"", 409, "ended"),
        HandCase("GET", f"/rooms/{ended}/events", b"", 409, "ended"),
    ]
    return cases


def run_hand_written(url: str, cases: list[HandCase], kinds: dict[str, str | None]) -> None:
    session = requests.Session()
    for case in cases:
        token = kinds[case.token]
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = session.request(
            case.method, url + case.path, data=case.body, headers=headers, timeout=10
        )
        label = f"{case.method} {case.path[:60]} ({len(case.body)} bytes)"
        assert response.status_code == case.status, (label, response.status_code, response.text)
        reason = response.json()["error"]
        assert case.words.lower() in reason.lower(), (label, reason)


def test_the_fuzz_would_catch_a_server_error() -> None:
    """The refusal check fails on a 5xx and on a refusal without a JSON reason."""

    @dataclass
    class Fake:
        status_code: int
        text: str

    with pytest.raises(AssertionError):
        check_refusal("healthz", "valid", Fake(500, '{"error": "boom"}'))
    with pytest.raises((AssertionError, json.JSONDecodeError)):
        check_refusal("get_room", "valid", Fake(404, "Not Found"))
    with pytest.raises(AssertionError):
        check_refusal("list_rooms", "expired", Fake(200, '{"rooms": []}'))
    check_refusal("get_room", "valid", Fake(404, '{"error": "unknown room r9"}'))


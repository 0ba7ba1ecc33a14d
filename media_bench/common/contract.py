"""The HTTP contract between the media server and its clients, declared once.

Request bodies, query strings and responses are pydantic models; ``ROUTES`` lists every
operation as data. The server builds its router, validation and OpenAPI document from it,
and the API client its typed calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from sim.rules.rooms import MAX_COHOSTS, MAX_SPEAKERS, STAGE_CAPACITY
from sim.rules.tickets import PRICE_MAX_USD, PRICE_MIN_USD, price_in_range

MAX_TITLE = 200
MAX_MESSAGE = 1000
MAX_LIMIT = 10_000
ACTIONS = ("invite", "accept", "listener", "mute", "unmute", "cohost", "remove")
"""Host powers, in the order the API documents them."""
Role = Literal["host", "cohost", "speaker", "listener"]


def _query_integer(raw: object) -> int:
    """Query values arrive as text; ``int()`` decides what counts as an integer."""
    try:
        return int(str(raw))
    except ValueError:
        raise ValueError("query values must be integers") from None


QueryInt = Annotated[int, BeforeValidator(_query_integer)]


class Body(BaseModel):
    """A JSON request body: types are checked strictly (no ``"5"`` for 5, no ``true`` for 1)."""

    model_config = ConfigDict(strict=True, frozen=True)


class Query(BaseModel):
    """A query string: its values arrive as text and are parsed (``"5"`` is 5); a parameter
    the route does not take is refused (a misspelt one would otherwise be ignored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Reply(BaseModel):
    """A JSON answer; fields are named as on the wire (``from``) or by attribute."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)


# -- request bodies ---------------------------------------------------------------------------
class TokenRequest(Body):
    user: str = Field(min_length=1, description="A user id of the directory.")


class TicketTerms(Body):
    price: float = Field(
        ge=PRICE_MIN_USD,
        le=PRICE_MAX_USD,
        allow_inf_nan=False,
        description=f"US dollars, {PRICE_MIN_USD:g} to {PRICE_MAX_USD:g} (the published range).",
    )
    cap: int = Field(ge=1)

    @field_validator("price", mode="before")
    @classmethod
    def _price_is_a_number(cls, value: object) -> object:
        # strict floats still take ints; a JSON number is what is meant, never a bool. The
        # range is checked here too, for a message naming it (ge/le document it in the schema)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if not (math.isfinite(value) and price_in_range(value)):
            raise ValueError(f"must be a number from {PRICE_MIN_USD:g} to {PRICE_MAX_USD:g}")
        return value


class RoomCreate(Body):
    title: str = Field("", max_length=MAX_TITLE)
    ticket: TicketTerms | None = None


class JoinOffer(Body):
    type: Literal["offer"] = "offer"
    sdp: str = Field(description="An SDP offer with Opus audio.")

    @field_validator("sdp")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be an SDP offer string")
        return value


class MessageText(Body):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(f"must be 1..{MAX_MESSAGE} characters")
        return value


# -- query strings ----------------------------------------------------------------------------
class UsersQuery(Query):
    min_followers: QueryInt = 0
    can_host: bool | None = Field(None, description="Only those who may host (true) or not.")
    limit: QueryInt = Field(100, ge=1, le=MAX_LIMIT)


class ParticipantsQuery(Query):
    limit: QueryInt = Field(200, ge=1, le=MAX_LIMIT)


# -- responses --------------------------------------------------------------------------------
class ErrorReply(Reply):
    error: str


class Health(Reply):
    ok: bool
    rooms: int


class TokenIssued(Reply):
    token: str
    expires_in: float


class UserView(Reply):
    id: str
    followers: int
    age: int | None = Field(description="Years; null when the directory does not know it.")
    hosted_30d: int = Field(
        description="Spaces hosted in the last 30 days, those on this server included."
    )
    can_host: bool
    can_host_ticketed: bool = Field(
        description="May create a ticketed room: can_host, 18 or older, enough followers and "
        "Spaces hosted (the published Ticketed Spaces rules)."
    )


class UserList(Reply):
    users: list[UserView]


class TicketState(Reply):
    price: float
    cap: int
    sold: int
    refunded: int = Field(0, description="Tickets refunded: the room ended before its host joined.")


class RoomState(Reply):
    id: str
    title: str
    live: bool
    host: str
    host_present: bool
    cohosts: list[str]
    speakers: list[str]
    muted: list[str]
    listener_count: int
    speaking: list[str]
    ticket: TicketState | None
    created: float
    ended_reason: str | None = Field(
        None,
        description="Why an ended room ended: `ended by host`, `server stopped`, "
        "`server restart` (its server died; the room was ended when it started again), "
        "`node lost` (its node stopped beating), `origin lost` (the media worker mixing it "
        "died).",
    )


class RoomList(Reply):
    rooms: list[RoomState]


class Participant(Reply):
    user: str
    role: Role
    muted: bool
    requested: bool
    invited: bool


class ParticipantList(Reply):
    room: str
    participants: list[Participant]


class TicketSold(Reply):
    room: str
    user: str
    sold: int
    cap: int


class RoomRevenue(Reply):
    """A ticketed room's sales from the ledger: gross - refunds = store + creator + platform."""

    room: str
    tickets_sold: int
    refunded: int
    gross_usd: float
    refunds_usd: float
    store_usd: float
    creator_usd: float
    platform_usd: float


class JoinAnswer(Reply):
    type: Literal["answer"]
    sdp: str
    role: Role


class Message(Reply):
    sender: str = Field(alias="from")
    text: str
    at: float


class MessageList(Reply):
    messages: list[Message]


class RoomSummary(Reply):
    """What the Spaces bar shows of a live room."""

    id: str
    title: str
    host: str
    speaker_count: int
    listener_count: int
    speaking: bool
    price: float | None


class LobbyEvent(Reply):
    """The data of one event of the Spaces bar's feed: the live rooms, or ``closed``."""

    type: Literal["rooms", "closed"]
    rooms: list[RoomSummary] = []


RoomEventType = Literal[
    "joined",
    "left",
    "role",
    "muted",
    "unmuted",
    "invited",
    "request",
    "removed",
    "ended",
    "levels",
    "message",
    "closed",
]


class RoomEvent(Reply):
    """The data of one event of a room's stream; fields beyond these depend on ``type``
    (``user``, ``role``, ``by``, ``levels``, ``speaking``, ``from``, ``text``)."""

    model_config = ConfigDict(extra="allow")

    type: RoomEventType
    room: str | None = None
    """The room's id; absent on ``closed``, which ends the stream."""
    at: float | None = None


# -- routes -----------------------------------------------------------------------------------
UNAUTHORIZED = 401
RATE_LIMITED = 429
AUTH_REFUSALS = (UNAUTHORIZED, RATE_LIMITED)
"""What every route that needs a token may also answer: a bad token, or its user over the
per-user request rate (with ``Retry-After``)."""
Method = Literal["GET", "POST"]
Produces = Literal["json", "html", "text", "events", "files"]


@dataclass(frozen=True)
class Route:
    """One operation of the API."""

    operation: str
    method: Method
    path: str
    who: str
    summary: str
    body: type[Body] | None = None
    body_required: bool = True
    query: type[Query] | None = None
    response: type[Reply] | None = None
    """The JSON answer, or for ``events`` the data of each event."""
    produces: Produces = "json"
    auth: bool = True
    ok: int = 200
    refusals: tuple[int, ...] = ()
    """4xx statuses the operation answers on purpose (besides ``AUTH_REFUSALS``)."""
    idempotent: bool = False
    """Takes an ``Idempotency-Key`` header: a retry with the same key gets the first answer."""

    def url(self, **parameters: str) -> str:
        return self.path.format(**parameters)

    @property
    def path_parameters(self) -> tuple[str, ...]:
        parts = self.path.split("/")
        return tuple(part[1:-1] for part in parts if part.startswith("{") and part.endswith("}"))


ROUTES: tuple[Route, ...] = (
    Route(
        "page",
        "GET",
        "/",
        "anyone",
        "The Spaces page: the Spaces bar of live rooms, joining, speaking and host controls "
        "in a browser (static files under `/static/`).",
        produces="html",
        auth=False,
    ),
    Route(
        "static",
        "GET",
        "/static/{filename}",
        "anyone",
        "The page's script and style sheet.",
        produces="files",
        auth=False,
        refusals=(404,),
    ),
    Route(
        "lobby_events",
        "GET",
        "/events",
        "any token holder",
        "Server-sent events for the Spaces bar: a `rooms` snapshot (id, title, host, "
        "speaker and listener counts, speaking, ticket price) now and whenever it changes.",
        response=LobbyEvent,
        produces="events",
    ),
    Route("healthz", "GET", "/healthz", "anyone", "Liveness probe.", response=Health, auth=False),
    Route("openapi", "GET", "/openapi.json", "anyone", "This OpenAPI document.", auth=False),
    Route(
        "metrics",
        "GET",
        "/metrics",
        "anyone",
        "Prometheus metrics: rooms, participants by role, mixer tick duration, late ticks, "
        "encodes, packets sent/received, drops by reason, tickets sold, ledger call latency, "
        "event-loop lag, process CPU and memory.",
        produces="text",
        auth=False,
    ),
    Route(
        "issue_token",
        "POST",
        "/auth/token",
        "anyone",
        "Issue an HMAC-signed bearer token for a user of the directory (a test harness: "
        "no passwords).",
        body=TokenRequest,
        response=TokenIssued,
        auth=False,
        refusals=(400, 404),
    ),
    Route(
        "list_users",
        "GET",
        "/users",
        "anyone",
        "List users (query: min_followers, can_host, limit) with follower counts, age, Spaces "
        "hosted in the last 30 days, can_host and can_host_ticketed.",
        query=UsersQuery,
        response=UserList,
        auth=False,
        refusals=(400,),
    ),
    Route(
        "get_user",
        "GET",
        "/users/{user_id}",
        "anyone",
        "One user's followers, age, Spaces hosted in the last 30 days, can_host and "
        "can_host_ticketed.",
        response=UserView,
        auth=False,
        refusals=(404,),
    ),
    Route(
        "list_rooms",
        "GET",
        "/rooms",
        "any token holder",
        "List live rooms with their state: every node's, when several nodes share a database "
        "(a node that does not answer in time is left out of that answer).",
        response=RoomList,
    ),
    Route(
        "create_room",
        "POST",
        "/rooms",
        "users at or above the server's follower threshold, and for a ticketed room those "
        "meeting the Ticketed Spaces rules (can_host_ticketed); others get 403 naming the rule",
        f"Create a room, optionally ticketed (price ${PRICE_MIN_USD:g} to ${PRICE_MAX_USD:g}, "
        "cap); the caller is its host. One live room per host: a second gets 409 naming "
        "the first.",
        body=RoomCreate,
        body_required=False,
        response=RoomState,
        ok=201,
        refusals=(400, 403, 409, 413),
    ),
    Route(
        "get_room",
        "GET",
        "/rooms/{room_id}",
        "any token holder",
        "Room state: host, co-hosts, speakers, muted, listener count, who is speaking, tickets.",
        response=RoomState,
        refusals=(404,),
    ),
    Route(
        "list_participants",
        "GET",
        "/rooms/{room_id}/participants",
        "any token holder",
        "Members, speakers first (query: limit), with role, muted, requested and invited.",
        query=ParticipantsQuery,
        response=ParticipantList,
        refusals=(400, 404),
    ),
    Route(
        "end_room",
        "POST",
        "/rooms/{room_id}/end",
        "host",
        "End the room; every peer is disconnected.",
        response=RoomState,
        refusals=(403, 404, 409),
    ),
    Route(
        "buy_ticket",
        "POST",
        "/rooms/{room_id}/tickets",
        "any token holder",
        "Buy a ticket; acknowledged once committed to the ledger; 409 when sold out (never "
        "oversells) or already held. An `Idempotency-Key` header makes retries safe: the same "
        "key returns the same ticket, status and body.",
        response=TicketSold,
        ok=201,
        refusals=(400, 404, 409, 422),
        idempotent=True,
    ),
    Route(
        "room_revenue",
        "GET",
        "/rooms/{room_id}/revenue",
        "host and co-hosts",
        "The room's ticket revenue from the ledger: tickets sold and refunded, gross, refunds, "
        "and the split into app store, creator and platform.",
        response=RoomRevenue,
        refusals=(403, 404),
    ),
    Route(
        "join",
        "POST",
        "/rooms/{room_id}/join",
        "host; anyone not removed (ticket holders only in ticketed rooms)",
        "Join with an SDP offer; returns the answer and the role. Listeners hear the room "
        "mix; speakers publish and hear everyone but themselves.",
        body=JoinOffer,
        response=JoinAnswer,
        refusals=(400, 403, 404, 409),
    ),
    Route(
        "leave",
        "POST",
        "/rooms/{room_id}/leave",
        "participant",
        "Leave the room.",
        response=RoomState,
        refusals=(404,),
    ),
    Route(
        "request_to_speak",
        "POST",
        "/rooms/{room_id}/requests",
        "listener",
        "Ask the host to speak.",
        response=RoomState,
        refusals=(404, 409),
    ),
    Route(
        "accept_invite",
        "POST",
        "/rooms/{room_id}/invitation/accept",
        "invited listener",
        f"Accept an invitation to speak (at most {MAX_SPEAKERS} speakers besides the host and "
        f"co-hosts: {STAGE_CAPACITY} on stage at most).",
        response=RoomState,
        refusals=(404, 409),
    ),
    Route(
        "act",
        "POST",
        "/rooms/{room_id}/participants/{user_id}/{action}",
        "host and co-hosts; a speaker may also mute or step down itself, and only it unmutes",
        "Host powers, action one of: invite (to speak), accept (a request to speak), "
        f"listener (move back), mute, unmute, cohost (max {MAX_COHOSTS}), remove (cannot "
        "rejoin).",
        response=RoomState,
        refusals=(403, 404, 409),
    ),
    Route(
        "send_message",
        "POST",
        "/rooms/{room_id}/messages",
        "participant",
        "Send the host a message.",
        body=MessageText,
        response=Message,
        ok=201,
        refusals=(400, 404, 409),
    ),
    Route(
        "read_messages",
        "GET",
        "/rooms/{room_id}/messages",
        "host and co-hosts",
        "Read messages.",
        response=MessageList,
        refusals=(403, 404),
    ),
    Route(
        "room_events",
        "GET",
        "/rooms/{room_id}/events",
        "participant",
        "Server-sent events: joined, left, role, muted, unmuted, invited, request, removed, "
        "ended, levels (audio levels and who is speaking, every 200 ms), and message (to "
        "the host and co-hosts only).",
        response=RoomEvent,
        produces="events",
        refusals=(404, 409),
    ),
)
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200
ROUTES_BY_OPERATION: dict[str, Route] = {route.operation: route for route in ROUTES}


def route(operation: str) -> Route:
    return ROUTES_BY_OPERATION[operation]


def json_of(reply: Reply) -> dict[str, Any]:
    """A reply as the JSON object sent on the wire (aliases such as ``from`` applied)."""
    return reply.model_dump(mode="json", by_alias=True)

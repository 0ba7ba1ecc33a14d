"""The HTTP control API (aiohttp, JSON in and out) in front of the rooms and their media."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from media_bench.server.lobby import Lobby
from media_bench.server.media import RoomMedia, SdpError
from media_bench.server.metrics import Metrics
from media_bench.server.openapi import openapi_document
from media_bench.server.rooms import ACTIONS, Room, Ticketing
from media_bench.server.settings import Settings
from media_bench.server.tokens import TokenError, TokenSigner
from media_bench.server.users import UserDirectory
from spaces_core.errors import Refused

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_MESSAGE = 1000
SSE_HEARTBEAT = 15.0
WEB_DIR = Path(__file__).with_name("web")


def error_response(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal is a JSON ``{"error": ...}`` with its 4xx status."""
    try:
        return await handler(request)
    except Refused as error:
        return error_response(error.status, error.reason)
    except web.HTTPRequestEntityTooLarge as error:
        return error_response(413, f"body too large: {error.text or error.reason}")
    except web.HTTPException as error:
        if error.status >= 400:
            return error_response(error.status, error.reason)
        raise


class SpacesServer:
    """Users, tokens, rooms and their media, and the routes that reach them."""

    def __init__(self, settings: Settings | None = None, users: UserDirectory | None = None):
        self.settings = settings or Settings()
        if users is None:
            users = (
                UserDirectory.load(self.settings.users_file)
                if self.settings.users_file is not None
                else UserDirectory.generate(self.settings.users, self.settings.seed)
            )
        self.users = users
        self.signer = TokenSigner(self.settings.secret, self.settings.token_ttl)
        self.rooms: dict[str, Room] = {}
        self.media: dict[str, RoomMedia] = {}
        self.metrics = Metrics(self._snapshot)
        self.lobby = Lobby(self._summaries)
        self._background: list[asyncio.Task[None]] = []

    # -- wiring ----------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body, middlewares=[json_errors])
        r = app.router
        r.add_get("/", self.page)
        r.add_static("/static/", WEB_DIR)
        r.add_get("/events", self.lobby_events)
        r.add_get("/healthz", self.healthz)
        r.add_get("/openapi.json", self.openapi)
        r.add_get("/metrics", self.prometheus)
        r.add_post("/auth/token", self.issue_token)
        r.add_get("/users", self.list_users)
        r.add_get("/users/{user_id}", self.get_user)
        r.add_get("/rooms", self.list_rooms)
        r.add_post("/rooms", self.create_room)
        r.add_get("/rooms/{room_id}", self.get_room)
        r.add_get("/rooms/{room_id}/participants", self.list_participants)
        r.add_post("/rooms/{room_id}/end", self.end_room)
        r.add_post("/rooms/{room_id}/tickets", self.buy_ticket)
        r.add_post("/rooms/{room_id}/join", self.join)
        r.add_post("/rooms/{room_id}/leave", self.leave)
        r.add_post("/rooms/{room_id}/requests", self.request_to_speak)
        r.add_post("/rooms/{room_id}/invitation/accept", self.accept_invite)
        r.add_post("/rooms/{room_id}/participants/{user_id}/{action}", self.act)
        r.add_post("/rooms/{room_id}/messages", self.send_message)
        r.add_get("/rooms/{room_id}/messages", self.read_messages)
        r.add_get("/rooms/{room_id}/events", self.events)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        self._background.append(asyncio.ensure_future(self.metrics.watch_loop_lag()))
        self._background.append(asyncio.ensure_future(self.lobby.run()))

    async def _stop(self, app: web.Application) -> None:
        for task in self._background:
            task.cancel()
        self.lobby.close()
        for room in self.rooms.values():
            room.live = False
            room.close_all()
        await asyncio.gather(*(m.close() for m in self.media.values()))
        self.media.clear()

    def _snapshot(self) -> tuple[int, dict[str, int]]:
        live = [r for r in self.rooms.values() if r.live]
        by_role: Counter[str] = Counter({"host": 0, "cohost": 0, "speaker": 0, "listener": 0})
        for room in live:
            for member in room.members.values():
                by_role[member.role.value] += 1
        return len(live), dict(by_role)

    def _summaries(self) -> list[dict[str, Any]]:
        return [r.summary() for r in self.rooms.values() if r.live]

    # -- helpers ---------------------------------------------------------------------------
    def _caller(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Refused(401, "missing bearer token")
        try:
            user_id = self.signer.verify(token.strip())
        except TokenError as error:
            raise Refused(401, str(error)) from error
        if self.users.get(user_id) is None:
            raise Refused(401, f"token names unknown user {user_id}")
        return user_id

    def _room(self, request: web.Request) -> Room:
        room_id = request.match_info["room_id"]
        room = self.rooms.get(room_id)
        if room is None:
            raise Refused(404, f"unknown room {room_id}")
        return room

    @staticmethod
    async def _body(request: web.Request, required: bool = True) -> dict[str, Any]:
        raw = await request.read()
        if not raw.strip():
            if required:
                raise Refused(400, "body must be a JSON object")
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise Refused(400, f"malformed JSON: {error}") from error
        if not isinstance(body, dict):
            raise Refused(400, "body must be a JSON object")
        return body

    def _sync(self, room: Room) -> None:
        media = self.media.get(room.id)
        if media is not None:
            media.sync()

    # -- routes: service -------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / "index.html")

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "rooms": len(self.rooms)})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), content_type="text/plain", charset="utf-8")

    # -- routes: users ---------------------------------------------------------------------
    async def issue_token(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        user_id = body.get("user")
        if not isinstance(user_id, str) or not user_id:
            raise Refused(400, "field 'user' must be a user id string")
        if self.users.get(user_id) is None:
            raise Refused(404, f"unknown user {user_id}")
        return web.json_response(
            {"token": self.signer.issue(user_id), "expires_in": self.signer.ttl}
        )

    def _user_json(self, user_id: str) -> dict[str, Any]:
        user = self.users.get(user_id)
        if user is None:
            raise Refused(404, f"unknown user {user_id}")
        return {
            "id": user.id,
            "followers": user.followers,
            "can_host": user.followers >= self.settings.host_threshold,
        }

    async def get_user(self, request: web.Request) -> web.Response:
        return web.json_response(self._user_json(request.match_info["user_id"]))

    async def list_users(self, request: web.Request) -> web.Response:
        try:
            minimum = int(request.query.get("min_followers", "0"))
            limit = int(request.query.get("limit", "100"))
        except ValueError as error:
            raise Refused(400, "min_followers and limit must be integers") from error
        if limit < 1 or limit > 10_000:
            raise Refused(400, "limit must be between 1 and 10000")
        found = [u.id for u in self.users.all() if u.followers >= minimum][:limit]
        return web.json_response({"users": [self._user_json(u) for u in found]})

    # -- routes: rooms ---------------------------------------------------------------------
    async def list_rooms(self, request: web.Request) -> web.Response:
        self._caller(request)
        live = [r.state() for r in self.rooms.values() if r.live]
        return web.json_response({"rooms": live})

    async def create_room(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        body = await self._body(request, required=False)
        title = body.get("title", "")
        if not isinstance(title, str) or len(title) > 200:
            raise Refused(400, "field 'title' must be a string of at most 200 characters")
        ticketing = self._ticketing(body.get("ticket"))
        user = self.users.get(caller)
        assert user is not None
        if user.followers < self.settings.host_threshold:
            raise Refused(
                403,
                f"hosting needs {self.settings.host_threshold} followers; "
                f"{caller} has {user.followers}",
            )
        room = Room(
            caller,
            title,
            ticketing,
            max_speakers=self.settings.max_speakers,
            max_cohosts=self.settings.max_cohosts,
        )
        self.rooms[room.id] = room
        room.on_change = self.lobby.changed
        self.lobby.changed()
        self.media[room.id] = RoomMedia(
            room, self.settings, on_packets_in=self.metrics.packets_received.inc
        )
        media = self.media[room.id]
        media.mixer.on_late = lambda behind: self.metrics.late_ticks.inc()
        media.mixer.on_duration = self._observe_tick(media)
        return web.json_response(room.state(), status=201)

    def _observe_tick(self, media: RoomMedia) -> Callable[[float], None]:
        histogram = self.metrics.tick_seconds
        sent = self.metrics.packets_sent

        def observe(seconds: float) -> None:
            histogram.observe(seconds)
            # What this tick sent, or the senders sent since the previous one (by design).
            delivered = media.fanout.take_sent()
            if delivered:
                sent.inc(delivered)

        return observe

    @staticmethod
    def _ticketing(raw: Any) -> Ticketing | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise Refused(400, "field 'ticket' must be an object with price and cap")
        price, cap = raw.get("price"), raw.get("cap")
        if isinstance(price, bool) or not isinstance(price, int | float):
            raise Refused(400, "field 'ticket.price' must be a number")
        if not math.isfinite(price) or price < 0:
            raise Refused(400, "field 'ticket.price' must be a finite number >= 0")
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise Refused(400, "field 'ticket.cap' must be an integer >= 1")
        return Ticketing(float(price), cap)

    async def get_room(self, request: web.Request) -> web.Response:
        self._caller(request)
        return web.json_response(self._room(request).state())

    async def list_participants(self, request: web.Request) -> web.Response:
        self._caller(request)
        room = self._room(request)
        try:
            limit = int(request.query.get("limit", "200"))
        except ValueError as error:
            raise Refused(400, "limit must be an integer") from error
        if limit < 1 or limit > 10_000:
            raise Refused(400, "limit must be between 1 and 10000")
        return web.json_response({"room": room.id, "participants": room.participants(limit)})

    async def end_room(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        room = self._room(request)
        room.end(caller)
        media = self.media.pop(room.id, None)
        if media is not None:
            await media.close()
        return web.json_response(room.state())

    async def buy_ticket(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        room = self._room(request)
        sold = room.buy_ticket(caller)
        cap = room.ticketing.cap if room.ticketing else 0
        return web.json_response(
            {"room": room.id, "user": caller, "sold": sold, "cap": cap}, status=201
        )

    # -- routes: joining -------------------------------------------------------------------
    async def join(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        room = self._room(request)
        body = await self._body(request)
        sdp, kind = body.get("sdp"), body.get("type", "offer")
        if kind != "offer":
            raise Refused(400, "field 'type' must be 'offer'")
        if not isinstance(sdp, str) or not sdp.strip():
            raise Refused(400, "field 'sdp' must be an SDP offer string")
        room.check_join(caller)
        media = self.media.get(room.id)
        if media is None:
            raise Refused(409, f"room {room.id} has ended")
        try:
            pending = await media.connect(caller, sdp)
        except SdpError as error:
            raise Refused(400, f"malformed SDP: {error}") from error
        # The room may have changed while candidates were gathered: check again.
        try:
            member = room.join(caller)
        except Refused:
            await media.discard(pending)
            raise
        media.commit(pending)
        return web.json_response(
            {"type": "answer", "sdp": pending.answer, "role": member.role.value}
        )

    async def leave(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        room = self._room(request)
        room.leave(caller)
        media = self.media.get(room.id)
        if media is not None:
            await media.disconnect(caller)
            media.sync()
        return web.json_response(room.state())

    # -- routes: speaking and host powers --------------------------------------------------
    async def request_to_speak(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        room = self._room(request)
        room.request_to_speak(caller)
        return web.json_response(room.state())

    async def accept_invite(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        room = self._room(request)
        room.accept_invite(caller)
        self._sync(room)
        return web.json_response(room.state())

    async def act(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        room = self._room(request)
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise Refused(404, f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        target = request.match_info["user_id"]
        if self.users.get(target) is None:
            raise Refused(404, f"unknown user {target}")
        room.act(caller, action, target)
        self._sync(room)
        return web.json_response(room.state())

    # -- routes: messages and events -------------------------------------------------------
    async def send_message(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        room = self._room(request)
        body = await self._body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_MESSAGE:
            raise Refused(400, f"field 'text' must be 1..{MAX_MESSAGE} characters")
        message = room.send_message(caller, text)
        return web.json_response(message, status=201)

    async def read_messages(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        room = self._room(request)
        return web.json_response({"messages": room.read_messages(caller)})

    async def events(self, request: web.Request) -> web.StreamResponse:
        caller = self._caller(request)
        room = self._room(request)
        key, queue = room.subscribe(caller)
        try:
            return await stream_events(request, queue)
        finally:
            room.unsubscribe(key)

    async def lobby_events(self, request: web.Request) -> web.StreamResponse:
        self._caller(request)
        queue = self.lobby.watch()
        try:
            return await stream_events(request, queue)
        finally:
            self.lobby.unwatch(queue)


async def stream_events(
    request: web.Request, queue: asyncio.Queue[dict[str, Any]]
) -> web.StreamResponse:
    """Server-sent events from ``queue`` until a ``closed`` event or the client goes away."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    try:
        await response.prepare(request)
        await response.write(b": connected\n\n")
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), SSE_HEARTBEAT)
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
            if event.get("type") == "closed":
                break
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


def build_app(
    settings: Settings | None = None, users: UserDirectory | None = None
) -> web.Application:
    """An aiohttp application serving one ``SpacesServer``."""
    return SpacesServer(settings, users).app()

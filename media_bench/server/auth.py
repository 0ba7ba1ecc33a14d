"""Bearer-token authentication as middleware, for the routes the contract says need it."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from media_bench.common.contract import ROUTES
from media_bench.server.context import CALLER
from media_bench.server.refusals import Handler
from media_bench.server.tokens import TokenSigner
from media_bench.server.users import UserDirectory
from spaces_core.errors import Refused

_NEEDS_AUTH = {(route.method, route.path) for route in ROUTES if route.auth}


def needs_auth(request: web.Request) -> bool:
    route = request.match_info.route
    if route.resource is None:  # no route matched: 404 or 405 follows
        return False
    method = "GET" if route.method == "HEAD" else route.method  # HEAD runs the GET handler
    return (method, route.resource.canonical) in _NEEDS_AUTH


def authenticate(signer: TokenSigner, users: UserDirectory) -> Middleware:
    """Middleware putting the token's user on the request (``context.caller_of``) or
    answering 401 before the handler runs."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if needs_auth(request):
            request[CALLER] = caller(request, signer, users)
        return await handler(request)

    return middleware


def caller(request: web.Request, signer: TokenSigner, users: UserDirectory) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Refused(401, "missing bearer token")
    user_id = signer.verify(token.strip())  # TokenError is a 401 refusal
    if users.get(user_id) is None:
        raise Refused(401, f"token names unknown user {user_id}")
    return user_id

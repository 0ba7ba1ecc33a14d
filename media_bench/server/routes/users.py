"""Tokens and the user directory."""

from __future__ import annotations

from aiohttp import web

from media_bench.common.contract import TokenIssued, TokenRequest, UserList, UsersQuery
from media_bench.server.context import body_of, query_of, reply
from media_bench.server.refusals import Handler
from media_bench.server.state import ServerState
from spaces_core.errors import Refused


def handlers(state: ServerState) -> dict[str, Handler]:
    async def issue_token(request: web.Request) -> web.StreamResponse:
        user_id = body_of(request, TokenRequest).user
        if state.users.get(user_id) is None:
            raise Refused(404, f"unknown user {user_id}")
        return reply(TokenIssued(token=state.signer.issue(user_id), expires_in=state.signer.ttl))

    async def get_user(request: web.Request) -> web.StreamResponse:
        return reply(state.user_view(request.match_info["user_id"]))

    async def list_users(request: web.Request) -> web.StreamResponse:
        query = query_of(request, UsersQuery)
        views = (
            state.user_view(u.id) for u in state.users.all() if u.followers >= query.min_followers
        )
        found = [v for v in views if query.can_host in (None, v.can_host)]
        return reply(UserList(users=found[: query.limit]))

    return {"issue_token": issue_token, "get_user": get_user, "list_users": list_users}

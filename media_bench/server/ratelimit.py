"""A per-user request rate bound: a token bucket per user id, answered 429 with Retry-After."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from media_bench.common.contract import RATE_LIMITED
from media_bench.server.context import CALLER
from media_bench.server.refusals import Handler, error_response


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``rate`` requests per second per user on average, ``burst`` at once."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, Bucket] = {}
        """One per user id: only users of the directory (the token was checked) get one."""

    def take(self, user_id: str) -> float:
        """Take one request from the user's bucket: 0.0 if allowed, else seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


def rate_limit(limiter: RateLimiter) -> Middleware:
    """Middleware answering 429 to a user over its rate (after authentication named it)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        user_id = request.get(CALLER)
        if user_id is not None:
            wait = limiter.take(user_id)
            if wait > 0:
                response = error_response(
                    RATE_LIMITED,
                    f"user {user_id} is over {limiter.rate:g} requests/s "
                    f"(burst {limiter.burst}); retry in {wait:.2f} s",
                )
                response.headers["Retry-After"] = str(math.ceil(wait))
                return response
        return await handler(request)

    return middleware

"""HMAC-signed bearer tokens: ``base64url(payload).base64url(sha256 hmac)``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from spaces_core.errors import Refused


class TokenError(Refused):
    """The token is malformed, forged or expired: refused with 401."""

    def __init__(self, problem: str) -> None:
        super().__init__(401, problem)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and checks tokens naming a user, valid for ``ttl`` seconds."""

    def __init__(self, secret: bytes, ttl: float = 3600.0) -> None:
        self._secret = secret
        self.ttl = ttl

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())

    def issue(self, user_id: str, now: float | None = None) -> str:
        expires = (time.time() if now is None else now) + self.ttl
        body = _b64(json.dumps({"sub": user_id, "exp": round(expires, 3)}).encode())
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, now: float | None = None) -> str:
        """The user a valid token names; TokenError otherwise."""
        body, _, mac = token.partition(".")
        if not body or not mac:
            raise TokenError("malformed token")
        if not hmac.compare_digest(mac, self._mac(body)):
            raise TokenError("bad token signature")
        try:
            claims = json.loads(_unb64(body))
            user_id = str(claims["sub"])
            expires = float(claims["exp"])
        except (ValueError, KeyError, TypeError) as error:
            raise TokenError("malformed token") from error
        if (time.time() if now is None else now) >= expires:
            raise TokenError("token expired")
        return user_id

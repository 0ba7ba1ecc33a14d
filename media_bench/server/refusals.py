"""Every refusal leaves the server as a JSON ``{"error": reason}`` with its 4xx status."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from spaces_core.errors import Refused

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
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


def validation_reason(error: ValidationError) -> str:
    """One line naming the first bad field, e.g. ``field 'ticket.cap': ...``."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    cause = (first.get("ctx") or {}).get("error")
    message = str(cause) if first["type"] == "value_error" and cause else first["msg"]
    return f"field '{field}': {message}" if field else message


def parse_model(model: type[M], data: Any) -> M:
    """``data`` as ``model``, or a 400 naming the bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise Refused(400, validation_reason(error)) from error


def parse_body(model: type[M], raw: bytes, required: bool) -> M:
    if not raw.strip():
        if required:
            raise Refused(400, "body must be a JSON object")
        return parse_model(model, {})
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deeply
        raise Refused(400, f"malformed JSON: {error}") from error
    if not isinstance(body, dict):
        raise Refused(400, "body must be a JSON object")
    return parse_model(model, body)

"""The OpenAPI 3.1 document and the README's route table, both made from the contract."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from media_bench.common.contract import (
    ACTIONS,
    AUTH_REFUSALS,
    IDEMPOTENCY_HEADER,
    MAX_IDEMPOTENCY_KEY,
    ROUTES,
    ErrorReply,
    Route,
)
from media_bench.server.settings import Settings

__all__ = ["ROUTES", "openapi_document", "routed_operations", "routes_markdown", "undocumented"]

_MEDIA_TYPES = {
    "html": "text/html",
    "text": "text/plain",
    "events": "text/event-stream",
    "files": "application/octet-stream",
}
_REF_TEMPLATE = "#/components/schemas/{model}"


def openapi_document(settings: Settings | None = None) -> dict[str, Any]:
    """OpenAPI 3.1 description of every route; the follower threshold is ``settings``'."""
    settings = settings or Settings()
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Spaces Lab media server",
            "version": "0.1.0",
            "description": "Audio rooms in the style of Twitter Spaces. This server's "
            f"follower threshold for hosting is {settings.host_threshold}.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    }


def _schema(
    model: type[BaseModel], schemas: dict[str, Any], mode: JsonSchemaMode
) -> dict[str, Any]:
    """A ``$ref`` to ``model``'s schema, which goes (with its nested models) in ``schemas``."""
    schema = model.model_json_schema(by_alias=True, ref_template=_REF_TEMPLATE, mode=mode)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": _REF_TEMPLATE.format(model=model.__name__)}


def _operation(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    if route.response is not None:
        media_type = _MEDIA_TYPES.get(route.produces, "application/json")
        content: dict[str, Any] = {
            media_type: {"schema": _schema(route.response, schemas, "serialization")}
        }
    elif route.produces == "json":
        content = {"application/json": {"schema": {"type": "object"}}}
    else:
        content = {_MEDIA_TYPES[route.produces]: {"schema": {"type": "string"}}}
    refused = {
        "description": "Refused",
        "content": {"application/json": {"schema": _schema(ErrorReply, schemas, "serialization")}},
    }
    ok = (
        "OK: server-sent events, each event's data one JSON object of this schema"
        if route.produces == "events"
        else "OK"
    )
    responses: dict[str, Any] = {str(route.ok): {"description": ok, "content": content}}
    for status in sorted({*route.refusals, *(AUTH_REFUSALS if route.auth else ())}):
        responses[str(status)] = refused
    operation: dict[str, Any] = {
        "operationId": route.operation,
        "summary": route.summary,
        "description": f"Who may call: {route.who}.",
        "responses": responses,
    }
    if route.auth:
        operation["security"] = [{"bearer": []}]
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": _schema(route.body, schemas, "validation")}},
        }
    parameters = [_path_parameter(name) for name in route.path_parameters]
    if route.query is not None:
        query_schema = route.query.model_json_schema()
        for name, field_schema in query_schema["properties"].items():
            parameters.append(
                {"name": name, "in": "query", "required": False, "schema": field_schema}
            )
    if route.idempotent:
        parameters.append(
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": False,
                "description": "A key of the caller's choosing; a retry with the same key "
                "gets the first answer and is not charged again.",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
            }
        )
    if parameters:
        operation["parameters"] = parameters
    return operation


def _path_parameter(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if name == "action":
        schema["enum"] = list(ACTIONS)
    return {"name": name, "in": "path", "required": True, "schema": schema}


def routes_markdown() -> str:
    """The route table as Markdown, for the README."""
    lines = ["| Method | Path | Who may call | What it does |", "|---|---|---|---|"]
    for route in ROUTES:
        lines.append(f"| {route.method} | `{route.path}` | {route.who} | {route.summary} |")
    return "\n".join(lines)


def routed_operations(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route ``app`` serves; HEAD, which aiohttp answers for every
    GET, is left out."""
    found: set[tuple[str, str]] = set()
    for resource in app.router.resources():
        path = resource.canonical
        for route in resource:
            if route.method != "HEAD":
                found.add((route.method, path))
    return found


def undocumented(
    routed: set[tuple[str, str]], document: dict[str, Any]
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(routed but not documented, documented but not routed), as (METHOD, path) pairs."""
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    return routed - documented, documented - routed

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The OpenAPI 3.1 document of the gateway, generated from the route table.

Request and response schemas come from the messages' own pydantic validators, so the
document cannot drift from what the gateway accepts. Each operation lists exactly the
statuses the gateway can answer it with; the generated project's tests fuzz the app
against this document (schemathesis) and prove every listed status is produced.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from ..core.codec import Codec
from ..core.messages import kind_of, result_type
from .idempotency import KEY_PATTERN
from .routes import GatewayRoute

PROBLEM = "application/problem+json"
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "correlation_id"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "correlation_id": {"type": "string"},
        "errors": {"type": "array"},
    },
}
REFUSALS = {
    401: "No valid credential.",
    403: "The credential does not grant the capability.",
    413: "The body is too large.",
    422: "The body does not match the message, the cell rejected it, or (commands) the "
    "Idempotency-Key was used with another body.",
    429: "Rate limit exceeded; see Retry-After.",
    503: "Too many requests in flight, or the cell's transport is down; see Retry-After.",
    504: "The request took too long (or the cell's worker did not answer in time).",
}
# Only commands take an Idempotency-Key (gateway/idempotency.py), so only they answer these.
KEYED_REFUSALS = {
    400: "The Idempotency-Key is malformed (one key, 1-255 visible ASCII characters).",
    409: "A request with this Idempotency-Key is still running; retry later.",
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Run this command once per key: a retry with the same key and body gets the first "
        "answer again (same status and body); the same key with another body gets 422, and "
        "while the first request still runs, 409. Keys are per credential and route, and "
        "expire (idempotency_ttl_seconds). A UUID, quoted as the IETF draft "
        "(draft-ietf-httpapi-idempotency-key-header) shows, is a good key."
    ),
    "schema": {"type": "string", "pattern": KEY_PATTERN, "minLength": 1, "maxLength": 255},
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "string"}, "required": True}}
WWW_AUTHENTICATE = {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}}


def _problem(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": REFUSALS.get(status) or KEYED_REFUSALS[status],
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in (429, 503):
        answer["headers"] = RETRY_AFTER
    if status == 401:
        answer["headers"] = WWW_AUTHENTICATE
    return answer


def _json(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def _service_paths() -> dict[str, Any]:
    """The routes every service has, besides its cells': liveness and metrics."""
    return {
        "/healthz": {
            "get": {
                "summary": "Liveness: the process is up.",
                "security": [],
                "responses": {
                    "200": {"description": "Up.", "content": _json({})},
                    "503": _problem(503),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (capability ops.metrics).",
                "responses": {
                    "200": {
                        "description": "Metrics in Prometheus' text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **{str(s): _problem(s) for s in (401, 403, 429, 503)},
                },
            }
        },
    }


def openapi_document(codec: Codec, routes: list[GatewayRoute]) -> dict[str, Any]:
    """The gateway's OpenAPI 3.1 document: a POST per route, with the schemas of the
    codec's own validators (one pydantic pass: a type used twice is defined once)."""
    inputs: list[tuple[tuple[str, str], Any, TypeAdapter[Any]]] = []
    for route in routes:
        inputs.append(((route.path, "in"), "validation", codec.adapter(route.message_type)))
        result = codec.adapter(result_type(route.message_type))
        inputs.append(((route.path, "out"), "serialization", result))
    refs, definitions = TypeAdapter.json_schemas(
        inputs, ref_template="#/components/schemas/{model}"
    )
    paths = _service_paths()
    for route in routes:
        request = refs[((route.path, "in"), "validation")]
        answer = refs[((route.path, "out"), "serialization")]
        paths[route.path] = {"post": _operation(route, request, answer)}
    schemas = {**definitions.get("$defs", {}), "Problem": PROBLEM_SCHEMA}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Gateway", "version": "1"},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (ck_...) or a JWT.",
                }
            },
        },
    }


def _operation(route: GatewayRoute, request: Any, answer: Any) -> dict[str, Any]:
    """POST on a route: its message in, its handler's result out, its refusals."""
    command = kind_of(route.message_type) == "command"
    statuses = sorted([*REFUSALS, *(KEYED_REFUSALS if command else ())])
    operation: dict[str, Any] = {
        "operationId": route.path.strip("/").replace("/", "_").replace("-", "_"),
        "summary": (route.message_type.__doc__ or route.message_type.__name__).strip(),
        "description": f"Requires the capability `{route.capability}`.",
        "requestBody": {"required": True, "content": _json(request)},
        "responses": {
            "200": {"description": "The handler's result.", "content": _json(answer)},
            **{str(status): _problem(status) for status in statuses},
        },
    }
    if command:
        operation["parameters"] = [IDEMPOTENCY_KEY]
    return operation

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Errors as RFC 9457 problem documents (`application/problem+json`).

Every error the gateway returns is a problem document with a `status`, a short `title`
and, where it helps the caller, a `detail`, plus the request's correlation id. None
carries a stack trace or an internal name: the last-resort handler logs the exception
with the correlation id and answers a plain 500 problem.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
# The members `problem` writes itself; any other member is the caller's (`errors`, ...).
PROBLEM_FIELDS = frozenset({"type", "title", "status", "detail", "correlation_id"})


class ProblemResponse(JSONResponse):
    media_type = MEDIA_TYPE


def problem(
    request: Request, status: int, detail: str | None = None, **extra: Any
) -> ProblemResponse:
    """A problem document for `status`, tagged with the request's correlation id."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["correlation_id"] = correlation_id(request)
    body.update(extra)
    return ProblemResponse(body, status_code=status)


def correlation_id(request: Request) -> str:
    value: str = request.scope.get("state", {}).get("correlation_id", "")
    return value


async def http_problem(request: Request, error: Exception) -> Response:
    """Starlette's own errors (404, 405, ...) as problem documents."""
    assert isinstance(error, HTTPException)
    detail = error.detail if error.detail != HTTPStatus(error.status_code).phrase else None
    response = problem(request, error.status_code, detail)
    if error.headers:
        response.headers.update(error.headers)
    return response


async def last_resort(request: Request, error: Exception) -> Response:
    """Any unexpected exception: logged with the correlation id, answered as a bare 500."""
    log.error("unhandled error (correlation id %s)", correlation_id(request), exc_info=error)
    response = problem(request, 500, "An unexpected error occurred; quote the correlation id.")
    # This handler runs outside the correlation middleware, so it sets the header itself.
    response.headers["x-request-id"] = correlation_id(request)
    return response

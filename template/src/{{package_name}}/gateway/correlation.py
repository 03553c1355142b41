# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Correlation ids: one per request, in the response header and in every log line.

A well-formed incoming `X-Request-ID` (letters, digits, `-`, `_`, `.`, at most 64
characters) is kept so a caller can follow its request; anything else is replaced by a
random id, so a header cannot inject text into the logs.

The id is bound in `structlog.contextvars` for the request's scope and unbound after it
(`core/logs.py`): every line logged meanwhile, by any logger (uvicorn's access line
included: uvicorn writes it while the response starts, inside this scope), carries it,
and so does every delivery the request sends to a worker (`core/remote.py` seals it into
the envelope), so the worker's lines carry it too. A request that fails keeps it bound
on the way out, so the lines about the failure, written outside this middleware (the
last-resort 500 handler, uvicorn's "Exception in ASGI application"), carry it too: the
binding ends with the request's task (uvicorn runs each request in a task of its own).
"""

from __future__ import annotations

import re
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.logs import CORRELATION_ID

HEADER = "x-request-id"
WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CorrelationIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        value = offered if WELL_FORMED.fullmatch(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["correlation_id"] = value

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = value
            await send(message)

        bound = structlog.contextvars.bind_contextvars(**{CORRELATION_ID: value})
        await self.app(scope, receive, send_with_id)
        structlog.contextvars.reset_contextvars(**bound)  # not on an error: see above

"""Correlation ids: one per request, in the response header and in every log line.

A well-formed incoming `X-Request-ID` (letters, digits, `-`, `_`, `.`, at most 64
characters) is kept so a caller can follow its request; anything else is replaced by a
random id, so a header cannot inject text into the logs.
"""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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

        await self.app(scope, receive, send_with_id)

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Request limits at the gateway, as plain ASGI middleware (OWASP API4: resource use).

- `BodyLimit`: 413 when a body is larger than allowed, whether announced by
  Content-Length or streamed in chunks (counted as it arrives, never buffered past it);
  408 with `Connection: close` when it stalls (no bytes for `stall_seconds` while the
  app waits for them), so a sender that stops frees its connection and in-flight slot;
  one that trickles is bounded by `Timeout`. (Headers that never finish are the
  server's to cut off: `gateway.server`.)
- `InFlightLimit`: 503 with Retry-After when too many requests are being served at once.
- `Timeout`: 504 when a request takes longer than allowed.
- `SecurityHeaders`: nosniff, no framing, no referrer, no caching; HSTS when TLS is on.

Each refusal is a problem document (`gateway.problems`).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem


class ResponseWatch:
    """Wraps `send` to remember whether the response has started: a refusal can only be
    sent before it has."""

    def __init__(self, send: Send) -> None:
        self._send, self.started = send, False

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)


class BodyTooLarge(Exception):  # noqa: N818 - a signal, caught below
    pass


class BodyStalled(Exception):  # noqa: N818 - a signal, caught below
    pass


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    response = problem(Request(scope), status, detail)
    if status == 503:
        response.headers["retry-after"] = "1"
    if status == 408:  # the rest of the body may never come: end the connection
        response.headers["connection"] = "close"
    await response(scope, receive, send)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, stall_seconds: float | None = None) -> None:
        self.app, self.max_bytes, self.stall_seconds = app, max_bytes, stall_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = dict(scope["headers"]).get(b"content-length", b"0")
        if announced.isdigit() and int(announced) > self.max_bytes:
            await _refuse(scope, receive, send, 413, f"The body exceeds {self.max_bytes} bytes.")
            return
        received, complete = 0, False
        watch = ResponseWatch(send)

        async def counting_receive() -> Message:
            nonlocal received, complete
            if complete or self.stall_seconds is None:
                message = await receive()  # after the body: waiting for a disconnect
            else:
                try:
                    async with asyncio.timeout(self.stall_seconds):
                        message = await receive()
                except TimeoutError:
                    raise BodyStalled from None
            complete = not message.get("more_body", False)
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, watch)
        except BodyTooLarge:
            if not watch.started:
                detail = f"The body exceeds {self.max_bytes} bytes."
                await _refuse(scope, receive, send, 413, detail)
        except BodyStalled:
            if not watch.started:
                detail = f"The body stalled: no bytes for {self.stall_seconds:g} s."
                await _refuse(scope, receive, send, 408, detail)


class InFlightLimit:
    def __init__(self, app: ASGIApp, max_in_flight: int) -> None:
        self.app, self.max_in_flight, self.in_flight = app, max_in_flight, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            await _refuse(scope, receive, send, 503, "Too many requests in flight; retry soon.")
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class Timeout:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = ResponseWatch(send)
        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, watch)
        except TimeoutError:
            if not watch.started:
                await _refuse(scope, receive, send, 504, "The request took too long.")


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
HSTS = ("strict-transport-security", "max-age=63072000; includeSubDomains")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, tls: bool) -> None:
        self.app = app
        pairs = {**SECURITY_HEADERS, **(dict([HSTS]) if tls else {})}
        self.raw = [(name.encode(), value.encode()) for name, value in pairs.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.raw]
            await send(message)

        await self.app(scope, receive, with_headers)

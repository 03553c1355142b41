# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The gateway: the service's only listener, and the only way to reach the bus.

Every route is one bus message and one capability (`gateway.routes`), and the app will
not start while a route lacks one. A request passes, in order: the ASGI limits
(`gateway.limits`: in-flight bound, timeout, body size) and headers; then the `Guard`
(authentication, rate limit, authorisation); then strict parsing of the JSON body into
the message (unknown fields and lax coercions are refused with 422, and so is any body
that is JSON only by a lenient reading: no body gets a 5xx); then the bus. A command sent
with an `Idempotency-Key` runs once per key (`gateway.idempotency`). Each guarded request
leaves one audit entry, written before its response is sent. Every error is a problem
document (`gateway.problems`) carrying the request's correlation id.

Besides the message routes: `GET /healthz` (public), `GET /openapi.json` (public, the
schema of every route) and `GET /metrics` (the `ops.metrics` capability).

The gateway builds nothing it serves with: the composition root (`bootstrap.create_app`)
opens the audit log, the API keys, the metrics, the usage ledger and the idempotency
store, wires them, and hands them over as `Parts`; `asgi_app` only turns them into routes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from ..core.bus import Bus, Rejected
from ..core.codec import BodyError, Codec
from ..core.messages import kind_of
from ..core.outbox import DELIVERY_ID
from ..core.settings import Settings
from ..core.transport import TransportError, TransportTimeout
from ..metrics import RouteStats
from . import admin, metrics
from .apikeys import ApiKeys
from .audit import AuditLog
from .correlation import CorrelationIdMiddleware
from .guard import Endpoint, Guard
from .idempotency import HEADER as IDEMPOTENCY_KEY
from .idempotency import (
    Answer,
    IdempotencyStore,
    MalformedKeyError,
    Refusal,
    fingerprint_of,
    key_from,
)
from .limits import BodyLimit, InFlightLimit, SecurityHeaders, Timeout
from .metrics import GatewayMetrics
from .openapi import openapi_document
from .problems import MEDIA_TYPE, PROBLEM_FIELDS, http_problem, last_resort, problem
from .routes import GatewayRoute

log = logging.getLogger(__name__)


Send = Callable[[Request, Any], Awaitable[Response]]


@dataclass(frozen=True)
class Parts:
    """What the gateway serves with. The composition root (`bootstrap.create_app`) builds
    and wires them; the gateway only turns them into an ASGI app."""

    settings: Settings
    bus: Bus
    codec: Codec
    routes: list[GatewayRoute]
    guard: Guard
    gauges: GatewayMetrics
    answers: IdempotencyStore  # the idempotency keys seen
    audit: AuditLog
    keys: ApiKeys
    # Entered for the app's lifetime: starts the runtime and the sampler, then stops and
    # closes everything the composition root opened.
    running: Callable[[], AbstractAsyncContextManager[None]]


def sender(bus: Bus, codec: Codec, message_type: type[Any]) -> Send:
    """Send a parsed message on the bus and answer with its result, or with the problem
    a refusal, a silent worker or a broken transport is."""
    dispatch: Callable[[Any], Awaitable[Any]]
    dispatch = bus.ask if kind_of(message_type) == "query" else bus.send

    async def run(request: Request, message: Any) -> Response:
        try:
            result = await dispatch(message)
        except Rejected as refusal:
            return problem(request, 422, str(refusal))
        except TransportTimeout:  # the cell's worker did not answer in time
            log.warning("%s: no reply from its worker in time", message_type.__name__)
            detail = "The cell did not answer in time; a command may still be applied."
            return problem(request, 504, detail)
        except TransportError as error:  # its transport is down: try again later
            log.warning("%s: transport failed: %s", message_type.__name__, error)
            unavailable = problem(request, 503, "The cell cannot be reached right now.")
            unavailable.headers["retry-after"] = "1"
            return unavailable
        return JSONResponse(codec.to_jsonable(result))

    return run


def once_per_key(
    run: Send, codec: Codec, keys: IdempotencyStore, path: str
) -> Callable[[Request, Any, str], Awaitable[Response]]:
    """`run`, at most once per idempotency key: a retry gets the stored answer."""

    async def run_once(request: Request, message: Any, key: str) -> Response:
        principal = request.state.principal.id
        fingerprint = fingerprint_of(codec.encode(message))
        begun = keys.begin(principal, path, key, fingerprint)
        if isinstance(begun, Refusal):
            return problem(request, begun.status, begun.detail)
        if isinstance(begun, Answer):
            return replayed(request, begun)
        answered = False
        delivery = DELIVERY_ID.set(begun.delivery_id)  # the cell dedupes a retry by it
        try:
            response = await run(request, message)
            if response.status_code < 500:  # it ran to an answer; else it may run again
                media_type = response.media_type or ""
                keys.finish(begun, Answer(response.status_code, bytes(response.body), media_type))
                answered = True
            return response
        finally:
            DELIVERY_ID.reset(delivery)
            if not answered:  # 503, 504, an error, a cancelled request
                keys.release(begun)

    return run_once


def message_endpoint(parts: Parts, route: GatewayRoute) -> Endpoint:
    """An endpoint that guards, parses the body into the route's message, and sends it;
    a command sent with an `Idempotency-Key` runs once per key (`gateway.idempotency`)."""
    message_type, codec = route.message_type, parts.codec
    is_query = kind_of(message_type) == "query"
    run = sender(parts.bus, codec, message_type)
    run_once = once_per_key(run, codec, parts.answers, route.path)

    async def answer(request: Request) -> Response:
        try:  # queries change nothing: a key on one is ignored
            key = None if is_query else key_from(request.headers.getlist(IDEMPOTENCY_KEY))
        except MalformedKeyError as error:
            return problem(request, 400, str(error))
        try:
            message = codec.parse(message_type, await request.body())
        except ValidationError as error:
            errors = error.errors(include_url=False, include_context=False, include_input=False)
            return problem(request, 422, "The request body does not match.", errors=errors)
        except BodyError as error:  # JSON only by a lenient reading (a repeated key, NaN)
            return problem(request, 422, "The request body does not match.", errors=error.errors)
        if key is None:
            return await run(request, message)
        return await run_once(request, message, key)

    capability = route.capability or ""
    return parts.guard.protect(capability, message_type.__name__, answer, route.strict_limit)


def replayed(request: Request, answer: Answer) -> Response:
    """A stored answer again; a problem document gets this request's correlation id."""
    if answer.media_type != MEDIA_TYPE:
        return Response(answer.body, answer.status, media_type=answer.media_type)
    stored = json.loads(answer.body)
    extra = {name: value for name, value in stored.items() if name not in PROBLEM_FIELDS}
    return problem(request, answer.status, stored.get("detail"), **extra)


def metrics_endpoint(guard: Guard, gauges: GatewayMetrics) -> Endpoint:
    async def answer(request: Request) -> Response:
        return await gauges.response()

    return guard.protect(metrics.CAPABILITY, "metrics", answer)


def observed(endpoint: Endpoint, stats: RouteStats) -> Endpoint:
    """The endpoint, its answers counted by status and timed (a failure counts as 500,
    a cancellation as 504: the `Timeout` middleware answers it)."""

    async def timed(request: Request) -> Response:
        started, status = time.perf_counter(), 500
        try:
            response = await endpoint(request)
            status = response.status_code
            return response
        except asyncio.CancelledError:
            status = 504
            raise
        finally:
            stats.observe(status, time.perf_counter() - started)

    timed.__name__ = endpoint.__name__
    return timed


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def middleware(settings: Settings) -> list[Middleware]:
    """Outermost first: every response carries a correlation id and the security
    headers; the limits refuse work before a handler sees it."""
    proxies = (
        # Without a trusted proxy, X-Forwarded-For is ignored: anyone can send it.
        [Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))]
        if settings.trusted_proxies
        else []
    )
    cors = (
        # An empty allowlist (the default) allows no origin: no middleware to pass through.
        [
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["content-type", "authorization", "x-request-id"],
            )
        ]
        if settings.cors_origins
        else []
    )
    return [
        *proxies,
        Middleware(CorrelationIdMiddleware),
        Middleware(SecurityHeaders, tls=settings.tls),
        *cors,
        Middleware(InFlightLimit, max_in_flight=settings.max_in_flight),
        Middleware(Timeout, seconds=settings.request_timeout_seconds),
        Middleware(
            BodyLimit,
            max_bytes=settings.max_body_bytes,
            stall_seconds=settings.body_timeout_seconds,
        ),
    ]


def asgi_app(parts: Parts) -> Starlette:
    """The gateway's ASGI app over the parts it is given: the public routes, `/metrics`
    and one guarded, timed route per message."""
    document = openapi_document(parts.codec, parts.routes)
    admin.document_roles(document, parts.guard.policy.roles)  # the blueprint's, at run time

    async def schema(request: Request) -> Response:
        return JSONResponse(document)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", schema, methods=["GET"], include_in_schema=False),
        Route("/metrics", metrics_endpoint(parts.guard, parts.gauges), methods=["GET"]),
    ]
    for route in parts.routes:
        endpoint = observed(message_endpoint(parts, route), parts.gauges.route(route.path))
        routes.append(Route(route.path, endpoint, methods=["POST"]))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with parts.running():  # transports, inbox consumers, outbox relay, sampler
            yield

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware(parts.settings),
        exception_handlers={HTTPException: http_problem, Exception: last_resort},
    )
    app.state.audit, app.state.keys, app.state.metrics = parts.audit, parts.keys, parts.gauges
    return app

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
schema of every route) and `GET /metrics` (the `ops.metrics` capability). While the app
runs, a sampler records the metrics series the triggers judge (`metrics/`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
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

from ..bootstrap import Runtime
from ..core.bus import Rejected
from ..core.codec import BodyError
from ..core.keyfiles import load_key
from ..core.messages import kind_of
from ..core.outbox import DELIVERY_ID
from ..core.settings import Settings
from ..core.transport import TransportError, TransportTimeout
from ..llm.ledger import Ledger
from ..llm.metrics import UsageCollector
from ..metrics import Metrics, RouteStats, Sampler
from . import admin, metrics
from .apikeys import ApiKeys
from .audit import AuditLog, refusal_entries
from .authn import Authenticator
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
from .policy import Policy
from .problems import MEDIA_TYPE, PROBLEM_FIELDS, http_problem, last_resort, problem
from .ratelimit import RateLimits
from .routes import GatewayRoute, route_table

log = logging.getLogger(__name__)


def message_endpoint(
    runtime: Runtime, guard: Guard, route: GatewayRoute, keys: IdempotencyStore
) -> Endpoint:
    """An endpoint that guards, parses the body into the route's message, and sends it;
    a command sent with an `Idempotency-Key` runs once per key (`gateway.idempotency`)."""
    message_type = route.message_type
    is_query = kind_of(message_type) == "query"
    dispatch: Callable[[Any], Awaitable[Any]] = runtime.bus.ask if is_query else runtime.bus.send

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
        return JSONResponse(runtime.codec.to_jsonable(result))

    async def answer(request: Request) -> Response:
        try:  # queries change nothing: a key on one is ignored
            key = None if is_query else key_from(request.headers.getlist(IDEMPOTENCY_KEY))
        except MalformedKeyError as error:
            return problem(request, 400, str(error))
        try:
            message = runtime.codec.parse(message_type, await request.body())
        except ValidationError as error:
            errors = error.errors(include_url=False, include_context=False, include_input=False)
            return problem(request, 422, "The request body does not match.", errors=errors)
        except BodyError as error:  # JSON only by a lenient reading (a repeated key, NaN)
            return problem(request, 422, "The request body does not match.", errors=error.errors)
        if key is None:
            return await run(request, message)
        return await run_once(request, message, key)

    async def run_once(request: Request, message: Any, key: str) -> Response:
        principal = request.state.principal.id
        fingerprint = fingerprint_of(runtime.codec.encode(message))
        begun = keys.begin(principal, route.path, key, fingerprint)
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

    capability = route.capability or ""
    return guard.protect(capability, message_type.__name__, answer, route.strict_limit)


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


def open_audit_log(settings: Settings, writer: str = "") -> AuditLog:
    """The gateway's audit log; or, with `writer` (a worker), that process's own log
    beside it, `audit-<writer>.log`: a hash chain has exactly one writer."""
    path = settings.audit_path
    if path is None:  # tests: a private file that lives as long as the process
        path = Path(tempfile.mkdtemp(prefix="audit-")) / "audit.log"
    if writer:
        path = path.with_name(f"{path.stem}-{writer}{path.suffix}")
    return AuditLog(path, load_key(settings, "audit"), fsync=settings.audit_fsync)


def create_app(runtime: Runtime, policy: Policy | None = None) -> Starlette:
    """The gateway over a wired runtime (one app per runtime: it adds handlers).
    `policy` defaults to the blueprint's roles."""
    settings = runtime.settings
    table = route_table(runtime.registry)  # refuses a route without a capability
    keys, policy = ApiKeys(settings.api_keys_path), policy or Policy()
    audit = open_audit_log(settings)
    runtime.remote.on_refused = refusal_entries(audit)  # forged or replayed deliveries
    measured = Metrics(runtime.registry, settings.blueprint.resolve().parent, "gateway")
    runtime.bus.add_middleware(measured.cells.middleware)  # handler latency per cell
    # Queue depths of cells on workers, when the runtime can tell (its transports).
    measured.cells.depth_provider = runtime.queue_depths  # inboxes of cells on workers
    guard = Guard(
        Authenticator(settings, keys),
        policy,
        RateLimits(settings.rate_limit, settings.rate_limit_keys, settings.limits_override),
        audit,
        users=measured.users,
    )
    admin.wire(runtime.bus, keys)
    for message_type in admin.MESSAGES:
        runtime.codec.register(f"gateway.{message_type.__name__}", message_type)
    gauges = GatewayMetrics(measured)
    usage = Ledger(settings.llm_ledger_path)  # model calls (llm/): read at each scrape
    gauges.registry.register(UsageCollector(usage))
    series = settings.series_path
    sampler = Sampler(measured, series, settings.sample_seconds) if series else None
    document = openapi_document(runtime.codec, table)

    async def schema(request: Request) -> Response:
        return JSONResponse(document)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", schema, methods=["GET"], include_in_schema=False),
        Route("/metrics", metrics_endpoint(guard, gauges), methods=["GET"]),
    ]
    # A request runs at most request_timeout_seconds (the Timeout middleware): a key still
    # marked running after that was left by a crash, and may run again.
    lease = settings.request_timeout_seconds + 1.0
    keys_seen = IdempotencyStore(
        settings.data_dir, runtime.keyring, settings.idempotency_ttl_seconds, lease
    )
    for route in table:
        endpoint = message_endpoint(runtime, guard, route, keys_seen)
        endpoint = observed(endpoint, gauges.route(route.path))
        routes.append(Route(route.path, endpoint, methods=["POST"]))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()  # transports, inbox consumers, the outbox relay
        if sampler is not None:
            sampler.start()  # the metrics series, one sample per interval
        try:
            yield
        finally:
            if sampler is not None:
                await sampler.stop()
            await runtime.stop()
            audit.close()
            keys.close()
            keys_seen.close()
            usage.close()
            runtime.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware(settings),
        exception_handlers={HTTPException: http_problem, Exception: last_resort},
    )
    app.state.audit, app.state.keys, app.state.metrics = audit, keys, gauges
    return app

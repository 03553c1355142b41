"""A thin ASGI app over the bus: one JSON route per command or query of every cell.

`POST /<cell>/<message>` validates the JSON body strictly against the message's
dataclass (unknown fields and lax coercions are refused with 422), sends it over the bus
and returns the handler's result as JSON. Routes come from the registry, so a new message
in a cell is a new route with no code here. Every error is a problem document
(`gateway.problems`) carrying the request's correlation id (`gateway.correlation`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core.bootstrap import Runtime
from ..core.bus import Rejected
from ..core.messages import Message, kind_of
from ..core.settings import Settings
from .correlation import CorrelationIdMiddleware
from .limits import BodyLimit, InFlightLimit, SecurityHeaders, Timeout
from .problems import http_problem, last_resort, problem

Endpoint = Callable[[Request], Awaitable[Response]]


def message_endpoint(runtime: Runtime, message_type: type[Message]) -> Endpoint:
    """An endpoint that turns a request body into `message_type` and dispatches it."""
    is_query = kind_of(message_type) == "query"

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        try:
            message = runtime.codec.parse(message_type, body or b"{}")
        except ValidationError as error:
            errors = error.errors(include_url=False, include_context=False, include_input=False)
            return problem(request, 422, "The request body does not match.", errors=errors)
        try:
            dispatch: Callable[[Any], Awaitable[Any]] = (
                runtime.bus.ask if is_query else runtime.bus.send
            )
            result = await dispatch(message)
        except Rejected as refusal:
            return problem(request, 422, str(refusal))
        return JSONResponse(runtime.codec.to_jsonable(result))

    endpoint.__name__ = message_type.__name__
    return endpoint


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def middleware(settings: Settings) -> list[Middleware]:
    """Outermost first: every response carries a correlation id and the security
    headers; the limits refuse work before a handler sees it."""
    return [
        Middleware(CorrelationIdMiddleware),
        Middleware(SecurityHeaders, tls=settings.tls),
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["content-type", "authorization", "x-request-id"],
        ),
        Middleware(InFlightLimit, max_in_flight=settings.max_in_flight),
        Middleware(Timeout, seconds=settings.request_timeout_seconds),
        Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
    ]


def create_app(runtime: Runtime) -> Starlette:
    routes = [Route("/healthz", healthz, methods=["GET"])]
    for cell in runtime.registry:
        for message_type in cell.handles:
            endpoint = message_endpoint(runtime, message_type)
            routes.append(Route(cell.route(message_type), endpoint, methods=["POST"]))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        runtime.close()

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware(runtime.settings),
        exception_handlers={HTTPException: http_problem, Exception: last_resort},
    )

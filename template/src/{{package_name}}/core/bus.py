# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The in-process message bus: how cells call each other without importing each other.

- `send(command)`: exactly one handler; its result comes back and its errors propagate.
- `ask(query)`: exactly one handler; returns its result.
- `publish(event)`: every subscriber runs; a failing subscriber is logged and the
  others still run, because one cell's bug must not silently stop another cell's work.

Middleware wraps every dispatch as a chain, outermost first:
`async def middleware(message, call_next) -> result`. The chain is built once, when
middleware is added, so the hot path is one awaited function call per layer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from .codec import Codec
from .messages import Command, Event, Message, Query

log = logging.getLogger(__name__)

R = TypeVar("R")
M = TypeVar("M", bound=Message)

Handler = Callable[[Any], Awaitable[Any]]
CallNext = Callable[[Message], Awaitable[Any]]
Middleware = Callable[[Message, CallNext], Awaitable[Any]]


class Rejected(Exception):  # noqa: N818 - it names an outcome, not a fault
    """Raised by a handler that refuses a message for a business reason.

    The gateway answers 422 with the message; any other exception is a bug (500).
    """


class NoHandlerError(LookupError):
    """A command or query was sent that no cell handles."""


class DuplicateHandlerError(ValueError):
    """A second handler was registered for a command or query."""


class Bus:
    """Dispatches commands and queries to one handler, events to all subscribers."""

    def __init__(self, middleware: Sequence[Middleware] = ()) -> None:
        self._handlers: dict[type[Message], Handler] = {}
        self._subscribers: dict[type[Event], list[Handler]] = {}
        self._middleware: list[Middleware] = []
        self._call: CallNext = self._dispatch
        for layer in middleware:
            self.add_middleware(layer)

    def handle(self, message_type: type[Message], handler: Handler) -> None:
        """Make `handler` the one handler of a command or query type."""
        if issubclass(message_type, Event):
            raise TypeError(f"{message_type.__name__} is an event: subscribe to it instead")
        if message_type in self._handlers:
            raise DuplicateHandlerError(f"{message_type.__name__} already has a handler")
        self._handlers[message_type] = handler

    def subscribe(self, event_type: type[Event], handler: Handler) -> None:
        """Add `handler` to the subscribers of an event type (exactly that type)."""
        if not issubclass(event_type, Event):
            raise TypeError(f"{event_type.__name__} is not an event: give it a handler instead")
        self._subscribers.setdefault(event_type, []).append(handler)

    def add_middleware(self, middleware: Middleware) -> None:
        """Append a layer inside the existing ones (closest to the handler)."""
        self._middleware.append(middleware)
        call: CallNext = self._dispatch
        for layer in reversed(self._middleware):
            call = _link(layer, call)
        self._call = call

    async def send(self, command: Command[R]) -> R:
        result: R = await self._call(command)
        return result

    async def ask(self, query: Query[R]) -> R:
        result: R = await self._call(query)
        return result

    async def publish(self, event: Event) -> None:
        await self._call(event)

    async def deliver(self, event: Event) -> int:
        """`publish`, telling how many subscribers failed (the outbox keeps the event
        for another try then; subscribers in units skip what they already did)."""
        failed: int = await self._call(event)
        return failed

    def handles(self, message_type: type[Message]) -> bool:
        return message_type in self._handlers

    async def _dispatch(self, message: Message) -> Any:
        if isinstance(message, Event):
            return await self._deliver(message)
        handler = self._handlers.get(type(message))
        if handler is None:
            raise NoHandlerError(f"no cell handles {type(message).__name__}")
        return await handler(message)

    async def _deliver(self, event: Event) -> int:
        failed = 0
        # A copy: a subscriber added while this event is delivered gets the next one.
        for subscriber in tuple(self._subscribers.get(type(event), ())):
            try:
                await subscriber(event)
            except Exception:
                failed += 1
                log.exception(
                    "subscriber %s failed on %s; other subscribers still run",
                    getattr(subscriber, "__qualname__", subscriber),
                    type(event).__name__,
                )
        return failed


def _link(layer: Middleware, call_next: CallNext) -> CallNext:
    async def call(message: Message) -> Any:
        return await layer(message, call_next)

    return call


def codec_round_trip(codec: Codec) -> Middleware:
    """Dev/test middleware: every message and result makes a JSON round trip.

    The handler receives the decoded copy, exactly what it would get from a remote
    transport, so a message that does not serialise fails in the first test run.
    """

    async def middleware(message: Message, call_next: CallNext) -> Any:
        result = await call_next(codec.round_trip(message))
        return codec.round_trip(result)

    return middleware

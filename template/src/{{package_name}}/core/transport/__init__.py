# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Transports: how a message reaches a cell that runs in another process.

A cell placed `in-process` is reached by a plain call on the in-memory bus (`core.bus`),
the hot path. A cell placed on a worker (`blueprint.yml`: `placement: {worker: redis}`)
is reached over a `Transport`: the caller's bus hands the message to the cell's *inbox*,
a durable queue that the worker consumes, and waits for the reply. The cell's code is the
same in both cases; only the wiring in `core.placement` differs.

One protocol, three adapters, each in a sibling module imported only when configured
(the way hynek/svcs keeps optional integrations out of the import graph); the adapters
build on this module, and `adapters.open_transport` picks one from the settings:

- `memory`: asyncio queues in this process; the reference for the contract, the default.
- `redis`: Redis Streams with a consumer group per cell; `XAUTOCLAIM` redelivers what a
  crashed worker left unacknowledged.
- `nats`: NATS JetStream with a durable pull consumer per cell and explicit acks.

The contract, which `tests/cellforge/core/test_transport_contract.py` runs against all three:

- `call` delivers at least once and waits for the reply, never longer than its timeout
  (`TransportTimeout`); a reply to a message id arrives at most once.
- `enqueue` is durable delivery without a reply (events).
- `serve` hands each delivery to the handler and acknowledges it only after the handler
  returned (and its reply was sent), so a worker killed mid-message loses nothing: the
  delivery comes back after `redeliver_after` seconds. Handlers dedupe by `Delivery.id`.
- Redelivery is bounded (`Retry`, from the blueprint's `delivery:` section). Every
  hand-over of a delivery to a worker is an *attempt*, counted by the server where it
  can: Redis's delivery counter of the pending entry (XREADGROUP starts it at 1, every
  XCLAIM/XAUTOCLAIM adds one), JetStream's `num_delivered`; memory counts for itself.
  A handler that raises (a passing failure: `core.remote` answers refusals and bugs, and
  those are acknowledged) has its delivery tried again after `Retry.backoff(attempt)`.
  The attempt that reaches `max_attempts` and fails, one whose handler raises
  `Undeliverable` (it can never succeed as it is), or a hand-over beyond it (the
  attempts before it ended with no outcome: a worker killed each time), moves the
  delivery to the cell's *dead letters* instead: written there durably first, then
  acknowledged in the inbox, exactly as received (id, body, reply channel, any other
  metadata) with the cell, the attempts, when, and the error's type name (never its
  text: an error message may quote the payload; the worker's log has the traceback
  under the delivery's id). Redis: the stream `<namespace>.dead.<cell>`; NATS: the
  subject `<namespace>.dead.<cell>` in the stream `<stream>_dead`; memory: a list.
- `dead_letters`, `replay` and `drop` list them, put one back into the inbox as it was
  received (its attempts start again; it goes through the same checks as any delivery)
  or delete it (`replay` may be given a new body: the runbook re-seals an envelope that
  went stale); `ops/runbooks/deadletters.py` runs them for an operator.
- Every wait on the server has a timeout: a stalled server gives an error, not a hang.

Wire format (also published as AsyncAPI by `core.asyncapi`): a delivery body is the
codec's envelope `{"type": "<cell>.<Message>", "data": {...}}`; its id and reply channel
travel as transport metadata; a reply body is `reply_body(...)` below.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from ..blueprint import Blueprint

T = TypeVar("T")
log = logging.getLogger(__name__)
Kind = Literal["memory", "redis", "nats"]
# Where the servers are when nothing says otherwise (the settings' defaults).
DEFAULT_URLS = {"redis": "redis://127.0.0.1:6379/0", "nats": "nats://127.0.0.1:4222"}
Status = Literal["ok", "rejected", "error"]


# Where a delivery's id and reply channel travel: NATS message headers (the id also as
# JetStream's dedupe header); Redis Streams entries carry the fields `id`, `reply_to`, `body`.
ID_HEADER, REPLY_TO_HEADER, NATS_DEDUPE_HEADER = "Cellforge-Id", "Cellforge-Reply-To", "Nats-Msg-Id"


class TransportError(RuntimeError):
    """The transport failed: unreachable, refused, or broken mid-way."""


class Undeliverable(Exception):  # noqa: N818 - what the handler says of the delivery
    """Raised by a handler: no attempt can succeed with this delivery as it is (its
    envelope went stale while it was retried, say), so it goes to the dead letters now,
    whatever attempts are left. `reason` is a short fixed word, kept as its error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def traceback_of(error: Exception) -> Exception | None:
    """What a failed delivery's log line shows: the traceback of a bug or a passing
    failure; nothing for an `Undeliverable`, whose reason is the whole story."""
    return None if isinstance(error, Undeliverable) else error


class TransportTimeout(TransportError, TimeoutError):  # noqa: N818 - a kind of TimeoutError
    """A remote wait ran out of time (the server or the worker stalled)."""


@dataclass(frozen=True)
class Delivery:
    """One message on its way to a cell's inbox."""

    id: str  # the idempotency key: the same message redelivered keeps its id
    body: bytes  # the codec's envelope
    reply_to: str | None = None  # where the reply goes; None for events


Handler = Callable[[Delivery], Awaitable[bytes | None]]


@dataclass(frozen=True)
class Retry:
    """How often a delivery whose handler keeps failing is tried, and the waits between:
    `blueprint.yml`'s `delivery:` section; a key left out keeps its default."""

    max_attempts: int = 8
    backoff_initial: float = 1.0  # seconds after the first failure, doubling each time
    backoff_max: float = 60.0

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt `attempt` (1, 2, ...): initial, doubled each
        time, never above max."""
        doubled: float = self.backoff_initial * 2.0 ** min(attempt - 1, 30)
        return min(self.backoff_max, doubled)

    @classmethod
    def from_blueprint(cls, blueprint: Blueprint | None) -> Retry:
        """The typed blueprint's `delivery:` section; the defaults without a blueprint
        (an image built without one)."""
        if blueprint is None:
            return cls()
        section = blueprint.delivery
        initial = section.backoff_seconds.initial
        return cls(section.max_attempts, initial, max(initial, section.backoff_seconds.max))


@dataclass(frozen=True)
class DeadLetter:
    """A delivery that kept failing, moved out of its cell's inbox."""

    ref: str  # where it lies: a Redis entry id, a JetStream sequence, a memory number
    cell: str
    delivery: Delivery  # exactly as received
    attempts: int
    error: str  # the last failure's type name, or NO_OUTCOME
    moved_at: float  # Unix time


# The error of a dead letter whose last attempts ended without a result.
NO_OUTCOME = "no outcome: the worker stopped or lost the delivery"
ERROR_CHARACTERS = 200


def error_name(error: BaseException) -> str:
    """What a dead letter says of a failure: the exception's qualified type name, bounded
    and on one line; never its message, which may quote the payload."""
    if isinstance(error, Undeliverable):
        return " ".join(f"Undeliverable: {error.reason}".split())[:ERROR_CHARACTERS]
    kind = type(error)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    return " ".join(name.split())[:ERROR_CHARACTERS]


class Transport(Protocol):
    kind: Kind

    async def connect(self) -> None:
        """Open connections and create the streams/consumers this process needs."""

    async def close(self) -> None:
        """Stop serving and disconnect; unacknowledged deliveries will be redelivered."""

    async def call(self, cell: str, delivery_id: str, body: bytes, timeout: float) -> bytes:
        """Deliver to `cell`'s inbox and return the reply body, or raise TransportTimeout."""

    async def enqueue(self, cell: str, delivery: Delivery) -> None:
        """Deliver to `cell`'s inbox durably, without waiting for a reply."""

    async def serve(self, cell: str, handler: Handler) -> None:
        """Consume `cell`'s inbox in the background until `close`: run `handler` on each
        delivery, send its reply (if it returns one and the delivery has `reply_to`),
        then acknowledge."""

    async def depth(self, cell: str) -> int:
        """Deliveries waiting in `cell`'s inbox or taken but not yet acknowledged."""

    async def dead_letters(self, cell: str, limit: int = 1000) -> list[DeadLetter]:
        """`cell`'s dead letters, oldest first, at most `limit`."""

    async def replay(self, cell: str, ref: str, body: bytes | None = None) -> bool:
        """Put a dead letter back into `cell`'s inbox as received (its attempts start
        again), with `body` instead of its own if given, and remove it from the dead
        letters; False if there is no such one."""

    async def drop(self, cell: str, ref: str) -> bool:
        """Delete a dead letter; False if there is no such one."""


class Replies:
    """The calls of one process that wait for their replies, by delivery id; a reply
    that comes late, twice or garbled finds no one waiting and is dropped."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[bytes]] = {}

    async def call(
        self, send: Callable[[], Awaitable[None]], cell: str, delivery_id: str, timeout: float
    ) -> bytes:
        """Run `send` (the delivery to `cell`'s inbox), then await its reply: both within
        one `timeout`. Each call needs its own id."""
        if delivery_id in self._waiting:
            raise TransportError(f"a call with id {delivery_id!r} is already waiting")
        reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[delivery_id] = reply
        try:
            async with asyncio.timeout(timeout):
                await send()
                return await reply
        except TimeoutError:
            raise TransportTimeout(f"no reply from cell {cell!r} in {timeout:g} s") from None
        finally:
            self._waiting.pop(delivery_id, None)

    def resolve(self, reply: bytes) -> None:
        """Hand a reply body (`reply_body`'s JSON) to the call waiting for its id."""
        try:
            delivery_id = json.loads(reply)["id"]
        except (ValueError, TypeError, KeyError):
            log.warning("dropped a reply that is not a reply body: %.80r", reply)
            return
        waiting = self._waiting.pop(delivery_id, None) if isinstance(delivery_id, str) else None
        if waiting is not None and not waiting.done():
            waiting.set_result(reply)


async def bounded(
    operation: Awaitable[T], timeout: float, what: str, errors: tuple[type[Exception], ...]
) -> T:
    """`operation` within `timeout`; its client's `errors` become a TransportError."""
    try:
        return await asyncio.wait_for(operation, timeout)
    except TimeoutError:
        raise TransportTimeout(f"{what}: no answer in {timeout:g} s") from None
    except errors as error:
        raise TransportError(f"{what} failed: {error}") from error


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel background tasks and wait until they have stopped."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    tasks.clear()


class InFlight:
    """Runs handler tasks, at most `limit` at once, keeping a reference to each (asyncio
    keeps only weak ones) until it is done. Consumers ask `room()` before they fetch, so
    nothing fetched waits unstarted while its redelivery clock runs."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._running: set[asyncio.Task[None]] = set()

    async def room(self) -> int:
        """Wait until a slot is free; how many are."""
        while len(self._running) >= self._limit:
            await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
        return self._limit - len(self._running)

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def stop(self, grace: float) -> None:
        """Let running handlers finish for up to `grace` seconds, then cancel the rest;
        what they had not acknowledged is delivered again."""
        if self._running:
            await asyncio.wait(self._running, timeout=grace)
        await cancel_all(list(self._running))


async def keep_alive(touch: Callable[[], Awaitable[Any]], every: float) -> None:
    """Tell the server every `every` seconds that a delivery is still being handled, so
    it is not handed to another worker while this one is alive; cancelled when done."""
    while True:
        await asyncio.sleep(every)
        try:
            await touch()
        except Exception as error:  # the next touch may work; redelivery is the fallback
            log.warning("could not extend a delivery's lease: %s", error)


def inbox(namespace: str, cell: str) -> str:
    """The channel of a cell's inbox: `<namespace>.inbox.<cell>`."""
    return f"{namespace}.inbox.{cell}"


def reply_channel(namespace: str, instance: str) -> str:
    """The channel where one process receives its replies."""
    return f"{namespace}.reply.{instance}"


def dead_channel(namespace: str, cell: str) -> str:
    """Where a cell's dead letters lie: `<namespace>.dead.<cell>`."""
    return f"{namespace}.dead.{cell}"


def reply_body(delivery_id: str, status: Status, result: Any = None, reason: str = "") -> bytes:
    """A reply: `{"id", "status": ok|rejected|error, "result": <JSON>, "reason"}`."""
    reply = {"id": delivery_id, "status": status, "result": result, "reason": reason}
    return json.dumps(reply, separators=(",", ":")).encode()

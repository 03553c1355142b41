# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The in-memory transport: inboxes as asyncio queues inside this process.

It keeps the whole contract (at-least-once, replies, acknowledgement after the handler,
redelivery of what a stopped consumer had taken, bounded retries with backoff, dead
letters) with no server, so it is the reference the Redis and NATS adapters are tested
against, and it lets a "worker" runtime and a gateway runtime share one process in
tests and benchmarks. A cell placed `in-process`
does not use it: it is called directly on the bus, which is faster still.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import replace

from . import (
    NO_OUTCOME,
    DeadLetter,
    Delivery,
    Handler,
    InFlight,
    Kind,
    Replies,
    Retry,
    TransportError,
    Undeliverable,
    cancel_all,
    error_name,
    traceback_of,
)

MAX_IN_FLIGHT = 32

log = logging.getLogger(__name__)

# A delivery in an inbox, with how many times it was handed over already.
Queued = tuple[Delivery, int]


class MemoryTransport:
    kind: Kind = "memory"

    def __init__(
        self, redeliver_after: float = 30.0, timeout: float = 10.0, retry: Retry | None = None
    ) -> None:
        # What a stopped consumer had taken comes back at once; a delivery its handler
        # failed on comes back after the retry policy's backoff.
        self.redeliver_after = redeliver_after
        self.timeout = timeout  # how long `close` lets running handlers finish
        self.retry = retry or Retry()
        self._inboxes: dict[str, asyncio.Queue[Queued]] = {}
        self._taken: dict[str, dict[int, Queued]] = {}  # by cell, then by ticket
        self._dead: dict[str, dict[str, DeadLetter]] = {}  # by cell, then by ref
        self._tickets = itertools.count()
        self._replies = Replies()
        self._consumers: list[asyncio.Task[None]] = []
        self._closed = False

    def _inbox(self, cell: str) -> asyncio.Queue[Queued]:
        return self._inboxes.setdefault(cell, asyncio.Queue())

    async def connect(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        await cancel_all(self._consumers)

    async def call(self, cell: str, delivery_id: str, body: bytes, timeout: float) -> bytes:
        delivery = Delivery(delivery_id, body, reply_to="memory")
        return await self._replies.call(
            lambda: self.enqueue(cell, delivery), cell, delivery_id, timeout
        )

    async def enqueue(self, cell: str, delivery: Delivery) -> None:
        if self._closed:
            raise TransportError("the memory transport is closed")
        self._inbox(cell).put_nowait((delivery, 0))

    async def serve(self, cell: str, handler: Handler) -> None:
        self._consumers.append(asyncio.create_task(self._consume(cell, handler)))

    async def depth(self, cell: str) -> int:
        return self._inbox(cell).qsize() + len(self._taken.get(cell, {}))

    async def dead_letters(self, cell: str, limit: int = 1000) -> list[DeadLetter]:
        return list(self._dead.get(cell, {}).values())[:limit]

    async def replay(self, cell: str, ref: str, body: bytes | None = None) -> bool:
        dead = self._dead.get(cell, {}).pop(ref, None)
        if dead is not None:
            delivery = dead.delivery if body is None else replace(dead.delivery, body=body)
            self._inbox(cell).put_nowait((delivery, 0))
        return dead is not None

    async def drop(self, cell: str, ref: str) -> bool:
        return self._dead.get(cell, {}).pop(ref, None) is not None

    def _bury(self, cell: str, delivery: Delivery, attempts: int, error: str) -> None:
        ref = str(next(self._tickets))
        dead = DeadLetter(ref, cell, delivery, attempts, error, time.time())
        self._dead.setdefault(cell, {})[ref] = dead
        log.error(
            "%s: delivery %s failed %d times; moved to its dead letters (%s)",
            cell,
            delivery.id,
            attempts,
            error,
            extra={"delivery_id": delivery.id[:80]},  # also before a handler ran
        )

    async def _consume(self, cell: str, handler: Handler) -> None:
        inbox, taken = self._inbox(cell), self._taken.setdefault(cell, {})
        running = InFlight(MAX_IN_FLIGHT)
        try:
            while True:
                await running.room()
                delivery, handed = await inbox.get()
                attempt = handed + 1  # this hand-over is an attempt, like the servers count
                if attempt > self.retry.max_attempts:  # the earlier ones ended unfinished
                    self._bury(cell, delivery, handed, NO_OUTCOME)
                    continue
                ticket = next(self._tickets)
                taken[ticket] = (delivery, attempt)
                running.start(self._handle(cell, ticket, delivery, attempt, handler))
        finally:
            await running.stop(grace=self.timeout)
            for queued in taken.values():  # taken, never acknowledged: deliver again
                inbox.put_nowait(queued)
            taken.clear()

    async def _handle(
        self, cell: str, ticket: int, delivery: Delivery, attempt: int, handler: Handler
    ) -> None:
        taken = self._taken[cell]
        try:
            reply = await handler(delivery)
        except Exception as error:
            if attempt >= self.retry.max_attempts or isinstance(error, Undeliverable):
                # An Undeliverable says why itself (the remote layer logged it).
                log.error(
                    "handling %s failed (attempt %d)", delivery.id, attempt,
                    exc_info=traceback_of(error),
                )  # fmt: skip
                taken.pop(ticket, None)
                self._bury(cell, delivery, attempt, error_name(error))
                return
            wait = self.retry.backoff(attempt)
            log.exception(
                "handling %s failed (attempt %d); again in %g s", delivery.id, attempt, wait
            )
            # It stays taken (counted in the depth) until it goes back into the inbox.
            asyncio.get_running_loop().call_later(wait, self._again, cell, ticket)
            return
        if reply is not None and delivery.reply_to is not None:
            self._replies.resolve(reply)
        taken.pop(ticket, None)  # the acknowledgement

    def _again(self, cell: str, ticket: int) -> None:
        queued = self._taken.get(cell, {}).pop(ticket, None)
        if queued is not None:  # else a stopping consumer already put it back
            self._inbox(cell).put_nowait(queued)

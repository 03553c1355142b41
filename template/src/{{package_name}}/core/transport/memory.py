"""The in-memory transport: inboxes as asyncio queues inside this process.

It keeps the whole contract (at-least-once, replies, acknowledgement after the handler,
redelivery of what a stopped consumer had taken) with no server, so it is the reference
the Redis and NATS adapters are tested against, and it lets a "worker" runtime and a
gateway runtime share one process in tests and benchmarks. A cell placed `in-process`
does not use it: it is called directly on the bus, which is faster still.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from . import Delivery, Handler, InFlight, Kind, Replies, TransportError, cancel_all

MAX_IN_FLIGHT = 32

log = logging.getLogger(__name__)


class MemoryTransport:
    kind: Kind = "memory"

    def __init__(self, redeliver_after: float = 30.0, timeout: float = 10.0) -> None:
        # What a stopped consumer had taken comes back at once; what a handler failed on
        # comes back after this interval.
        self.redeliver_after = redeliver_after
        self.timeout = timeout  # how long `close` lets running handlers finish
        self._inboxes: dict[str, asyncio.Queue[Delivery]] = {}
        self._taken: dict[str, dict[int, Delivery]] = {}  # by cell, then by ticket
        self._tickets = itertools.count()
        self._replies = Replies()
        self._consumers: list[asyncio.Task[None]] = []
        self._closed = False

    def _inbox(self, cell: str) -> asyncio.Queue[Delivery]:
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
        self._inbox(cell).put_nowait(delivery)

    async def serve(self, cell: str, handler: Handler) -> None:
        self._consumers.append(asyncio.create_task(self._consume(cell, handler)))

    async def depth(self, cell: str) -> int:
        return self._inbox(cell).qsize() + len(self._taken.get(cell, {}))

    async def _consume(self, cell: str, handler: Handler) -> None:
        inbox, taken = self._inbox(cell), self._taken.setdefault(cell, {})
        running = InFlight(MAX_IN_FLIGHT)
        try:
            while True:
                await running.room()
                delivery = await inbox.get()
                ticket = next(self._tickets)
                taken[ticket] = delivery
                running.start(self._handle(cell, ticket, delivery, handler))
        finally:
            await running.stop(grace=self.timeout)
            for delivery in taken.values():  # taken, never acknowledged: deliver again
                inbox.put_nowait(delivery)
            taken.clear()

    async def _handle(self, cell: str, ticket: int, delivery: Delivery, handler: Handler) -> None:
        taken = self._taken[cell]
        try:
            reply = await handler(delivery)
        except Exception:
            log.exception("handling %s failed; it will be delivered again", delivery.id)
            asyncio.get_running_loop().call_later(
                self.redeliver_after, self._inbox(cell).put_nowait, taken.pop(ticket)
            )
            return
        if reply is not None and delivery.reply_to is not None:
            self._replies.resolve(reply)
        taken.pop(ticket, None)  # the acknowledgement

"""The Redis Streams transport (redis-py's asyncio client).

- A cell's inbox is the stream `<namespace>.inbox.<cell>`, consumed by the consumer group
  `<cell>`; each worker process is one consumer. An entry's fields are `id` (the
  idempotency key), `reply_to` and `body`.
- A worker acknowledges (`XACK`, then `XDEL`, so the stream's length is its depth) only
  after the handler returned and the reply was pushed. What a killed worker had read but
  not acknowledged stays pending; every worker of the cell runs `XAUTOCLAIM` for entries
  idle longer than `redeliver_after` and handles them again.
- Replies go to a list per caller process, `<namespace>.reply.<instance>`, read with
  `BLPOP`; a reply list expires if its process is gone.
- Every command runs under `asyncio.wait_for(timeout)`, so a stalled server is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from . import (
    Delivery,
    Handler,
    InFlight,
    Kind,
    Replies,
    TransportError,
    bounded,
    cancel_all,
    inbox,
    keep_alive,
    reply_channel,
)

log = logging.getLogger(__name__)
ERRORS = (RedisError, OSError)
T = TypeVar("T")

BATCH = 16
BLOCK_SECONDS = 1.0  # how long one read waits for new entries before looping (default)
REPLY_TTL_SECONDS = 300


class RedisTransport:
    kind: Kind = "redis"

    def __init__(
        self,
        url: str,
        namespace: str,
        timeout: float = 10.0,
        redeliver_after: float = 30.0,
        block: float = BLOCK_SECONDS,
    ) -> None:
        self.url, self.namespace = url, namespace
        self.timeout, self.redeliver_after = timeout, redeliver_after
        self.block = block  # a close waits up to this long for the blocking reads to end
        self.instance = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.replies = reply_channel(namespace, self.instance)
        self._client: aioredis.Redis | None = None
        self._replies = Replies()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: list[InFlight] = []
        self._reader: asyncio.Task[None] | None = None
        self._stopping = self._stopping_replies = False
        self.reply_prefix = reply_channel(namespace, "")

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise TransportError("the Redis transport is not connected")
        return self._client

    async def _bounded(self, operation: Awaitable[T], what: str) -> T:
        return await bounded(operation, self.timeout, f"Redis at {self.url}: {what}", ERRORS)

    async def connect(self) -> None:
        self._client = aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.timeout,
            # Above the blocking reads' own wait, so only a stalled server trips it.
            socket_timeout=self.timeout + self.block,
        )
        await self._bounded(self.client.ping(), "PING")
        self._stopping = self._stopping_replies = False
        self._reader = asyncio.create_task(self._read_replies())

    async def close(self) -> None:
        # Blocking reads end within self.block; cancelling one mid-read can wedge
        # redis-py's connection, so the loops are asked to stop and waited for first.
        self._stopping = True
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.block + self.timeout)
        await cancel_all(self._tasks)  # stopped fetching; let the running ones finish
        for running in self._running:
            await running.stop(grace=self.timeout)
        self._running.clear()
        if self._reader is not None:  # last: a handler finishing may still await a reply
            self._stopping_replies = True
            await asyncio.wait([self._reader], timeout=self.block + self.timeout)
            await cancel_all([self._reader])
            self._reader = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def call(self, cell: str, delivery_id: str, body: bytes, timeout: float) -> bytes:
        delivery = Delivery(delivery_id, body, self.replies)
        return await self._replies.call(
            lambda: self.enqueue(cell, delivery), cell, delivery_id, timeout
        )

    async def enqueue(self, cell: str, delivery: Delivery) -> None:
        stream = inbox(self.namespace, cell)
        # The entry's fields (also in docs/asyncapi.json): id, reply_to, body.
        fields: Any = {
            "id": delivery.id,
            "reply_to": delivery.reply_to or "",
            "body": delivery.body,
        }
        await self._bounded(self.client.xadd(stream, fields), "XADD")

    async def serve(self, cell: str, handler: Handler) -> None:
        stream = inbox(self.namespace, cell)
        try:
            await self._bounded(
                self.client.xgroup_create(stream, cell, id="0", mkstream=True), "XGROUP CREATE"
            )
        except TransportError as error:
            if "BUSYGROUP" not in str(error):  # the group exists: another worker made it
                raise
        self._tasks.append(asyncio.create_task(self._consume(stream, cell, handler)))

    async def depth(self, cell: str) -> int:
        length: int = await self._bounded(self.client.xlen(inbox(self.namespace, cell)), "XLEN")
        return length

    async def _read_replies(self) -> None:
        while not self._stopping_replies:
            try:
                popped: Any = await self.client.blpop([self.replies], timeout=self.block)
            except (RedisError, OSError) as error:
                log.warning("reading replies from Redis failed (%s); retrying", error)
                await asyncio.sleep(self.block)
                continue
            if popped is None:
                continue
            self._replies.resolve(popped[1])

    async def _consume(self, stream: str, group: str, handler: Handler) -> None:
        running = InFlight(BATCH)
        self._running.append(running)
        claim_every = max(self.redeliver_after / 2, self.block)
        loop = asyncio.get_running_loop()
        next_claim, cursor = loop.time(), "0-0"  # at start: take over what a dead one left
        while not self._stopping:
            room = await running.room()
            try:
                if loop.time() >= next_claim:
                    cursor, entries = await self._claim(stream, group, cursor, room)
                    if cursor == "0-0":  # a full pass over the pending entries: rest
                        next_claim = loop.time() + claim_every
                else:
                    entries = await self._read(stream, group, room)
            except (RedisError, OSError) as error:
                if "NOGROUP" in str(error):  # the stream was lost (a flush, a failover)
                    log.warning("%s: its consumer group is gone; making it again", stream)
                    with contextlib.suppress(RedisError, OSError):
                        await self.client.xgroup_create(stream, group, id="0", mkstream=True)
                    continue
                log.warning("reading %s from Redis failed (%s); retrying", stream, error)
                await asyncio.sleep(self.block)
                continue
            for entry_id, fields in entries:
                running.start(self._handle(stream, group, entry_id, fields, handler))

    async def _read(
        self, stream: str, group: str, count: int
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        response: Any = await self.client.xreadgroup(
            group, self.instance, {stream: ">"}, count=count, block=int(self.block * 1000)
        )
        return [entry for _, entries in response or [] for entry in entries]

    async def _claim(
        self, stream: str, group: str, cursor: str, count: int
    ) -> tuple[str, list[tuple[bytes, dict[bytes, bytes]]]]:
        """Entries idle longer than `redeliver_after`: their worker died (live workers
        keep theirs fresh, see `_handle`). Returns the cursor of the next call."""
        idle_ms = int(self.redeliver_after * 1000)
        claimed: Any = await self.client.xautoclaim(
            stream, group, self.instance, idle_ms, start_id=cursor, count=count
        )
        following = claimed[0].decode() if isinstance(claimed[0], bytes) else str(claimed[0])
        entries: list[tuple[bytes, dict[bytes, bytes]]] = claimed[1]
        if entries:
            log.info("%s: %d deliveries taken over from a stopped worker", stream, len(entries))
        return following, [entry for entry in entries if entry[1]]  # deleted: empty

    async def _handle(
        self,
        stream: str,
        group: str,
        entry_id: bytes,
        fields: dict[bytes, bytes],
        handler: Handler,
    ) -> None:
        if b"id" not in fields or b"body" not in fields:  # never handleable: drop it
            log.error("%s: entry %s is not a delivery; dropped", stream, entry_id)
            await self._bounded(self.client.xack(stream, group, entry_id), "XACK")
            return
        reply_to = fields.get(b"reply_to", b"").decode() or None
        delivery = Delivery(fields[b"id"].decode(), fields[b"body"], reply_to)

        async def touch() -> None:  # resets the entry's idle time: XAUTOCLAIM leaves it
            await self.client.xclaim(stream, group, self.instance, 0, [entry_id], justid=True)

        lease = asyncio.create_task(keep_alive(touch, self.redeliver_after / 3))
        try:
            reply = await handler(delivery)
            async with self.client.pipeline(transaction=True) as batch:
                if reply is not None and reply_to is not None:
                    if reply_to.startswith(self.reply_prefix):
                        batch.lpush(reply_to, reply)
                        batch.expire(reply_to, REPLY_TTL_SECONDS)
                    else:  # only a caller's reply list, never an arbitrary key
                        log.warning("%s: refused reply channel %.80r", stream, reply_to)
                batch.xack(stream, group, entry_id)
                batch.xdel(stream, entry_id)
                await self._bounded(batch.execute(), "XACK")
        except Exception:  # left pending: XAUTOCLAIM delivers it again
            log.exception("handling %s from %s failed; it comes back later", entry_id, stream)
        finally:
            lease.cancel()

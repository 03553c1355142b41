# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The Redis Streams transport (redis-py's asyncio client).

- A cell's inbox is the stream `<namespace>.inbox.<cell>`, consumed by the consumer group
  `<cell>`; each worker process is one consumer. An entry's fields are `id` (the
  idempotency key), `reply_to` and `body`.
- A worker acknowledges (`XACK`, then `XDEL`, so the stream's length is its depth) only
  after the handler returned and the reply was pushed. What a killed worker had read but
  not acknowledged stays pending; every worker of the cell runs `XAUTOCLAIM` for entries
  idle longer than `redeliver_after` and handles them again.
- The attempts are the pending entry's delivery counter, which Redis keeps: 1 from
  `XREADGROUP`, one more at each `XCLAIM`/`XAUTOCLAIM` (read with `XPENDING` for what was
  taken over). A handler that fails keeps its entry (its lease kept fresh) through the
  backoff, then the worker claims it again with `XCLAIM`, which counts the attempt; if
  the worker dies meanwhile, `XAUTOCLAIM` elsewhere takes over and counts it. A
  delivery out of attempts moves, in one `MULTI`, to the stream `<namespace>.dead.<cell>`
  (its fields as received, plus `dead.cell`, `dead.attempts`, `dead.error`, `dead.at`)
  and out of the inbox.
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
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

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
    bounded,
    cancel_all,
    dead_channel,
    error_name,
    inbox,
    keep_alive,
    reply_channel,
    traceback_of,
)

log = logging.getLogger(__name__)
ERRORS = (RedisError, OSError)
T = TypeVar("T")

BATCH = 16
BLOCK_SECONDS = 1.0  # how long one read waits for new entries before looping (default)
REPLY_TTL_SECONDS = 300
DEAD = b"dead."  # the prefix of the fields a dead letter adds to the entry's own
Entry = tuple[bytes, dict[bytes, bytes]]


class RedisTransport:
    kind: Kind = "redis"

    def __init__(
        self,
        url: str,
        namespace: str,
        timeout: float = 10.0,
        redeliver_after: float = 30.0,
        block: float = BLOCK_SECONDS,
        retry: Retry | None = None,
    ) -> None:
        self.url, self.namespace = url, namespace
        self.timeout, self.redeliver_after = timeout, redeliver_after
        self.block = block  # a close waits up to this long for the blocking reads to end
        self.retry = retry or Retry()
        self._retrying: set[asyncio.Task[None]] = set()  # deliveries waiting out a backoff
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
        await cancel_all(list(self._retrying))  # left pending: XAUTOCLAIM takes them over
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

    async def dead_letters(self, cell: str, limit: int = 1000) -> list[DeadLetter]:
        stream = dead_channel(self.namespace, cell)
        entries: Any = await self._bounded(self.client.xrange(stream, count=limit), "XRANGE")
        return [self._dead_letter(cell, entry_id, fields) for entry_id, fields in entries]

    @staticmethod
    def _dead_letter(cell: str, entry_id: bytes, fields: dict[bytes, bytes]) -> DeadLetter:
        reply_to = fields.get(b"reply_to", b"").decode() or None
        delivery = Delivery(fields[b"id"].decode(), fields[b"body"], reply_to)
        attempts, error = int(fields[DEAD + b"attempts"]), fields[DEAD + b"error"].decode()
        moved_at = float(fields[DEAD + b"at"])
        return DeadLetter(entry_id.decode(), cell, delivery, attempts, error, moved_at)

    async def replay(self, cell: str, ref: str, body: bytes | None = None) -> bool:
        stream = dead_channel(self.namespace, cell)
        found: Any = await self._bounded(self.client.xrange(stream, ref, ref), "XRANGE")
        if not found:
            return False
        original = {key: value for key, value in found[0][1].items() if not key.startswith(DEAD)}
        if body is not None:
            original[b"body"] = body
        async with self.client.pipeline(transaction=True) as batch:  # both, or neither
            batch.xadd(inbox(self.namespace, cell), original)
            batch.xdel(stream, ref)
            done = await self._bounded(batch.execute(), "XADD")
        return bool(done[1])

    async def drop(self, cell: str, ref: str) -> bool:
        stream = dead_channel(self.namespace, cell)
        deleted: int = await self._bounded(self.client.xdel(stream, ref), "XDEL")
        return deleted > 0

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
            for entry_id, fields, attempt in entries:
                taken = Taken(self.client, self.instance, stream, group, entry_id, handler, running)
                running.start(self._handle(taken, fields, attempt))

    async def _read(self, stream: str, group: str, count: int) -> list[tuple[bytes, Any, int]]:
        response: Any = await self.client.xreadgroup(
            group, self.instance, {stream: ">"}, count=count, block=int(self.block * 1000)
        )
        # Entries never delivered before: their first attempt.
        return [(key, fields, 1) for _, entries in response or [] for key, fields in entries]

    async def _claim(
        self, stream: str, group: str, cursor: str, count: int
    ) -> tuple[str, list[tuple[bytes, Any, int]]]:
        """Entries idle longer than `redeliver_after`: their worker died (live workers
        keep theirs fresh, see `_handle`), with their attempts so far. Returns the cursor
        of the next call."""
        idle_ms = int(self.redeliver_after * 1000)
        claimed: Any = await self.client.xautoclaim(
            stream, group, self.instance, idle_ms, start_id=cursor, count=count
        )
        following = claimed[0].decode() if isinstance(claimed[0], bytes) else str(claimed[0])
        entries: list[Entry] = [entry for entry in claimed[1] if entry[1]]  # deleted: empty
        if not entries:
            return following, []
        log.info("%s: %d deliveries taken over from a stopped worker", stream, len(entries))
        pending: Any = await self.client.xpending_range(
            stream, group, entries[0][0], entries[-1][0], len(entries), self.instance
        )  # the counters Redis kept, this take-over included
        counts = {row["message_id"]: int(row["times_delivered"]) for row in pending}
        return following, [(key, fields, counts.get(key, 1)) for key, fields in entries]

    async def _handle(self, taken: Taken, fields: dict[bytes, bytes], attempt: int) -> None:
        stream, group, entry_id = taken.stream, taken.group, taken.entry_id
        if b"id" not in fields or b"body" not in fields:  # never handleable: drop it
            log.error("%s: entry %s is not a delivery; dropped", stream, entry_id)
            await self._bounded(self.client.xack(stream, group, entry_id), "XACK")
            return
        if attempt > self.retry.max_attempts:  # the attempts before ended unfinished
            await self._bury(taken, fields, attempt - 1, NO_OUTCOME)
            return
        reply_to = fields.get(b"reply_to", b"").decode() or None
        delivery = Delivery(fields[b"id"].decode(), fields[b"body"], reply_to)
        lease = asyncio.create_task(keep_alive(taken.touch, self.redeliver_after / 3))
        try:
            reply = await taken.handler(delivery)
        except Exception as error:
            await self._failed(taken, fields, attempt, error)
            return
        finally:
            lease.cancel()
        try:
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
        except TransportError as error:  # left pending: XAUTOCLAIM delivers it again
            log.warning("%s: %s not acknowledged (%s); it comes back", stream, entry_id, error)

    async def _failed(
        self, taken: Taken, fields: dict[bytes, bytes], attempt: int, error: Exception
    ) -> None:
        """Bury the entry if that was its last attempt, else try it again after the backoff."""
        where = f"{taken.stream} {taken.entry_id.decode()} (attempt {attempt})"
        if attempt >= self.retry.max_attempts or isinstance(error, Undeliverable):
            # An Undeliverable says why itself (the remote layer logged it): no traceback.
            log.error("handling %s failed", where, exc_info=traceback_of(error))
            await self._bury(taken, fields, attempt, error_name(error))
            return
        wait = self.retry.backoff(attempt)
        log.error("handling %s failed; again in %g s", where, wait, exc_info=error)
        retry = asyncio.create_task(self._again(taken, attempt, wait))
        self._retrying.add(retry)  # outside the in-flight slots: it only waits
        retry.add_done_callback(self._retrying.discard)

    async def _again(self, taken: Taken, attempt: int, wait: float) -> None:
        """After the backoff, claim the entry again (XCLAIM without JUSTID: Redis counts
        the attempt) and handle it; the entry stays ours meanwhile. If this worker stops
        first, the entry stays pending and XAUTOCLAIM elsewhere takes it over."""
        lease = asyncio.create_task(keep_alive(taken.touch, self.redeliver_after / 3))
        try:
            await asyncio.sleep(wait)
            claim = self.client.xclaim(
                taken.stream, taken.group, self.instance, 0, [taken.entry_id]
            )
            claimed: Any = await self._bounded(claim, "XCLAIM")
        except TransportError as error:
            log.warning("%s: could not claim %s again (%s)", taken.stream, taken.entry_id, error)
            return
        finally:
            lease.cancel()
        if claimed and claimed[0][1]:  # else acknowledged or deleted meanwhile
            taken.running.start(self._handle(taken, claimed[0][1], attempt + 1))

    async def _bury(
        self, taken: Taken, fields: dict[bytes, bytes], attempts: int, error: str
    ) -> None:
        """Move the entry to the cell's dead letters and out of the inbox, in one MULTI."""
        cell = taken.group  # each cell's inbox has one consumer group, named after it
        dead = {
            **fields,
            DEAD + b"cell": cell.encode(),
            DEAD + b"attempts": str(attempts).encode(),
            DEAD + b"error": error.encode(),
            DEAD + b"at": repr(time.time()).encode(),
        }
        channel = dead_channel(self.namespace, cell)
        try:
            async with self.client.pipeline(transaction=True) as batch:
                batch.xadd(channel, dead)  # type: ignore[arg-type]
                batch.xack(taken.stream, taken.group, taken.entry_id)
                batch.xdel(taken.stream, taken.entry_id)
                await self._bounded(batch.execute(), "XADD dead letter")
        except TransportError as problem:  # still pending: a take-over tries again
            log.warning(
                "%s: %s not moved to %s (%s)", taken.stream, taken.entry_id, channel, problem
            )
            return
        named = fields.get(b"id", b"").decode(errors="replace")[:80]  # also before a handler
        log.error(
            "%s: %s gave up after %d attempts, moved to %s (%s)",
            taken.stream,
            taken.entry_id.decode(),
            attempts,
            channel,
            error,
            extra={"delivery_id": named},
        )


@dataclass(frozen=True)
class Taken:
    """An entry a worker has taken from a cell's inbox, and what handles it there."""

    client: aioredis.Redis
    instance: str
    stream: str
    group: str
    entry_id: bytes
    handler: Handler
    running: InFlight

    async def touch(self) -> None:
        """Reset the entry's idle time (JUSTID: no attempt counted), so XAUTOCLAIM leaves
        it to this live worker."""
        await self.client.xclaim(
            self.stream, self.group, self.instance, 0, [self.entry_id], justid=True
        )

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The NATS JetStream transport (nats-py).

- One stream per namespace holds every inbox subject, `<namespace>.inbox.<cell>`, with
  work-queue retention: a message stays until a worker acknowledges it.
- Each cell has one durable pull consumer, `inbox_<cell>`, with explicit acks and an ack
  wait of `redeliver_after`: what a killed worker fetched but never acknowledged is
  delivered again when that wait ends. Workers of a cell share the consumer.
- The idempotency key travels as the `Cellforge-Id` header and as `Nats-Msg-Id`, so
  JetStream also drops a re-published duplicate; the reply subject as `Cellforge-Reply-To`.
- Replies are plain NATS messages to `<namespace>.reply.<instance>`, which each caller
  process subscribes to. Publishes wait for JetStream's ack, under the timeout.
- The attempts are JetStream's own count, `num_delivered` in the message's metadata. A
  handler that fails answers with a NAK delayed by the backoff, so JetStream redelivers
  it then, to any worker of the cell. A delivery out of attempts is published to
  `<namespace>.dead.<cell>` in the stream `<stream>_dead` (limits retention: it stays
  until replayed or dropped), its headers as received plus `Cellforge-Dead-*`, and once
  JetStream has acknowledged that, it is acknowledged in the inbox. The consumer's own
  `max_deliver` and `backoff` are not used: `backoff` replaces `ack_wait`, the lease a
  live worker keeps with `in_progress`, and a message past `max_deliver` stays in the
  work queue unseen, announced only by an advisory that is lost if nobody listens.
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
from typing import TypeVar

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RawStreamMsg, RetentionPolicy, StreamConfig
from nats.js.errors import NotFoundError

from . import (
    ID_HEADER,
    NATS_DEDUPE_HEADER,
    NO_OUTCOME,
    REPLY_TO_HEADER,
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
ERRORS = (NatsError, OSError)
T = TypeVar("T")
PullSubscription = JetStreamContext.PullSubscription

BATCH = 16
FETCH_SECONDS = 1.0
DEAD = "Cellforge-Dead-"  # the prefix of the headers a dead letter adds to its own


class NatsTransport:
    kind: Kind = "nats"

    def __init__(
        self,
        url: str,
        namespace: str,
        timeout: float = 10.0,
        redeliver_after: float = 30.0,
        retry: Retry | None = None,
    ) -> None:
        self.url, self.namespace = url, namespace
        self.timeout, self.redeliver_after = timeout, redeliver_after
        self.retry = retry or Retry()
        self.stream = namespace.replace(".", "_")
        self.dead_stream = f"{self.stream}_dead"
        self.instance = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.replies = reply_channel(namespace, self.instance)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._consumers: set[str] = set()
        self._replies = Replies()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: list[InFlight] = []
        self.reply_prefix = reply_channel(namespace, "")

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise TransportError("the NATS transport is not connected")
        return self._js

    async def _bounded(self, operation: Awaitable[T], what: str) -> T:
        return await bounded(operation, self.timeout, f"NATS at {self.url}: {what}", ERRORS)

    async def connect(self) -> None:
        self._nc = await self._bounded(
            nats.connect(
                self.url,
                connect_timeout=self.timeout,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
            ),
            "connect",
        )
        self._js = self._nc.jetstream(timeout=self.timeout)
        await self._stream(self.stream, inbox(self.namespace, ">"), RetentionPolicy.WORK_QUEUE)
        await self._stream(self.dead_stream, dead_channel(self.namespace, ">"), None)
        await self._nc.subscribe(self.replies, cb=self._on_reply)

    async def _stream(self, name: str, subject: str, retention: RetentionPolicy | None) -> None:
        """The stream, created on first use by whoever comes first."""
        try:
            await self._bounded(self.js.stream_info(name), "stream info")
        except TransportError as error:
            if not isinstance(error.__cause__, NotFoundError):
                raise
            config = StreamConfig(name=name, subjects=[subject], retention=retention)
            await self._bounded(self.js.add_stream(config), "add stream")

    async def close(self) -> None:
        await cancel_all(self._tasks)  # stop fetching, then let the running ones finish
        for running in self._running:
            await running.stop(grace=self.timeout)
        self._running.clear()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), self.timeout)
            self._nc = self._js = None

    async def call(self, cell: str, delivery_id: str, body: bytes, timeout: float) -> bytes:
        delivery = Delivery(delivery_id, body, self.replies)
        # A call that reuses an id (a client's retry with its Idempotency-Key, after a
        # timeout) is a new sending that waits for its own reply: JetStream must not drop
        # it as a duplicate. The worker still runs the command once, deduping by the id.
        sending = secrets.token_hex(4)
        return await self._replies.call(
            lambda: self.enqueue(cell, delivery, sending), cell, delivery_id, timeout
        )

    async def enqueue(self, cell: str, delivery: Delivery, sending: str = "") -> None:
        # JetStream dedupes per stream, and every inbox shares the stream: the dedupe key
        # names the cell too, or an event sent to two cells would reach only the first.
        dedupe = f"{cell}:{delivery.id}" + (f":{sending}" if sending else "")
        headers = {ID_HEADER: delivery.id, NATS_DEDUPE_HEADER: dedupe}
        if delivery.reply_to is not None:
            headers[REPLY_TO_HEADER] = delivery.reply_to
        subject = inbox(self.namespace, cell)
        await self._bounded(self.js.publish(subject, delivery.body, headers=headers), "publish")

    async def serve(self, cell: str, handler: Handler) -> None:
        durable = await self._consumer(cell)
        subscription = await self._bounded(
            self.js.pull_subscribe_bind(durable, self.stream), "subscribe"
        )
        self._tasks.append(asyncio.create_task(self._consume(cell, subscription, handler)))

    async def dead_letters(self, cell: str, limit: int = 1000) -> list[DeadLetter]:
        found: list[DeadLetter] = []
        sequence = 1
        while len(found) < limit:
            raw = await self._dead_at(cell, sequence)
            if raw is None or raw.seq is None:
                break
            found.append(self._dead_letter(cell, raw))
            sequence = raw.seq + 1
        return found

    async def _dead_at(self, cell: str, sequence: int, exact: bool = False) -> RawStreamMsg | None:
        """The first of `cell`'s dead letters from `sequence` on (only that one if
        `exact`); None if there is none."""
        subject = dead_channel(self.namespace, cell)
        # get_msg looks by subject only with `next`; exact, it takes the sequence alone.
        get = self.js.get_msg(
            self.dead_stream, sequence, None if exact else subject, next=not exact
        )
        try:
            raw = await self._bounded(get, "get dead letter")
        except TransportError as error:
            if isinstance(error.__cause__, NotFoundError):
                return None
            raise
        return raw if raw.subject == subject else None

    @staticmethod
    def _dead_letter(cell: str, raw: RawStreamMsg) -> DeadLetter:
        headers = raw.headers or {}
        delivery = Delivery(headers[ID_HEADER], raw.data or b"", headers.get(REPLY_TO_HEADER))
        attempts, error = int(headers[DEAD + "Attempts"]), headers[DEAD + "Error"]
        return DeadLetter(
            str(raw.seq), cell, delivery, attempts, error, float(headers[DEAD + "At"])
        )

    async def replay(self, cell: str, ref: str, body: bytes | None = None) -> bool:
        raw = await self._dead_at(cell, int(ref), exact=True) if ref.isdigit() else None
        if raw is None:
            return False
        headers = {k: v for k, v in (raw.headers or {}).items() if not k.startswith(DEAD)}
        # A new dedupe key: JetStream would drop the first one as a duplicate still.
        headers[NATS_DEDUPE_HEADER] = f"{cell}:{headers.get(ID_HEADER)}:replay:{ref}"
        subject = inbox(self.namespace, cell)
        data = (raw.data or b"") if body is None else body
        await self._bounded(self.js.publish(subject, data, headers=headers), "publish")
        await self._bounded(self.js.delete_msg(self.dead_stream, int(ref)), "delete dead letter")
        return True

    async def drop(self, cell: str, ref: str) -> bool:
        if not ref.isdigit() or await self._dead_at(cell, int(ref), exact=True) is None:
            return False
        deleted = await self._bounded(self.js.delete_msg(self.dead_stream, int(ref)), "delete")
        return bool(deleted)

    async def depth(self, cell: str) -> int:
        durable = await self._consumer(cell)
        info = await self._bounded(self.js.consumer_info(self.stream, durable), "consumer info")
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def _consumer(self, cell: str) -> str:
        """The cell's durable consumer, created on first use by whoever comes first."""
        durable = f"inbox_{cell}"
        if durable in self._consumers:
            return durable
        try:
            await self._bounded(self.js.consumer_info(self.stream, durable), "consumer info")
        except TransportError as error:
            if not isinstance(error.__cause__, NotFoundError):
                raise
            config = ConsumerConfig(
                durable_name=durable,
                filter_subject=inbox(self.namespace, cell),
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.redeliver_after,
            )
            await self._bounded(self.js.add_consumer(self.stream, config), "add consumer")
        self._consumers.add(durable)
        return durable

    async def _on_reply(self, message: Msg) -> None:
        self._replies.resolve(message.data)

    async def _consume(self, cell: str, subscription: PullSubscription, handler: Handler) -> None:
        running = InFlight(BATCH)
        self._running.append(running)
        while True:
            room = await running.room()  # fetch no more than can start now
            try:
                messages = await subscription.fetch(room, timeout=FETCH_SECONDS)
            except TimeoutError:
                # Python 3.11's wait_for (inside nats-py) can turn a cancel that lands as
                # its timeout expires into this TimeoutError: a close must still stop us.
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from None
                continue  # nothing waiting
            except (NatsError, OSError) as error:
                log.warning("fetching from NATS failed (%s); retrying", error)
                await asyncio.sleep(FETCH_SECONDS)
                continue
            for message in messages:
                running.start(self._handle(cell, message, handler))

    async def _handle(self, cell: str, message: Msg, handler: Handler) -> None:
        headers = message.headers or {}
        if ID_HEADER not in headers:  # it can never be handled: drop it, do not loop on it
            log.error("a message on %s without %s; dropped", message.subject, ID_HEADER)
            await self._bounded(message.ack_sync(), "ack")
            return
        attempt = int(message.metadata.num_delivered or 1)
        if attempt > self.retry.max_attempts:  # the attempts before ended unfinished
            await self._bury(cell, message, attempt - 1, NO_OUTCOME)
            return
        reply_to = headers.get(REPLY_TO_HEADER)
        delivery = Delivery(headers[ID_HEADER], message.data, reply_to)
        # in_progress() restarts ack_wait: a live worker keeps its delivery.
        lease = asyncio.create_task(keep_alive(message.in_progress, self.redeliver_after / 3))
        try:
            reply = await handler(delivery)
        except Exception as error:
            await self._failed(cell, message, attempt, error)
            return
        finally:
            lease.cancel()
        try:
            if reply is not None and reply_to is not None and self._nc is not None:
                if reply_to.startswith(self.reply_prefix):
                    await self._nc.publish(reply_to, reply)
                else:  # only a caller's reply subject, never another inbox
                    log.warning("refused reply subject %.80r", reply_to)
            await self._bounded(message.ack_sync(), "ack")
        except (TransportError, NatsError, OSError) as problem:  # redelivered after ack_wait
            log.warning("%s: %s not acknowledged (%s); it comes back", cell, delivery.id, problem)

    async def _failed(self, cell: str, message: Msg, attempt: int, error: Exception) -> None:
        """Bury the message if that was its last attempt, else NAK it with the backoff
        as its delay: JetStream hands it out again then."""
        where = f"{message.subject} {message.headers and message.headers.get(ID_HEADER)}"
        where += f" (attempt {attempt})"
        if attempt >= self.retry.max_attempts or isinstance(error, Undeliverable):
            # An Undeliverable says why itself (the remote layer logged it): no traceback.
            log.error("handling %s failed", where, exc_info=traceback_of(error))
            await self._bury(cell, message, attempt, error_name(error))
            return
        wait = self.retry.backoff(attempt)
        log.error("handling %s failed; again in %g s", where, wait, exc_info=error)
        try:
            await self._bounded(message.nak(delay=wait), "nak")
        except TransportError as problem:  # then it comes back after ack_wait
            log.warning("%s: could not delay the next attempt (%s)", where, problem)

    async def _bury(self, cell: str, message: Msg, attempts: int, error: str) -> None:
        """Publish the message to the cell's dead letters; once JetStream holds it there,
        acknowledge it in the inbox. A crash in between leaves it in the inbox, and the
        next attempt buries it again, deduplicated by its inbox sequence."""
        headers = {k: v for k, v in (message.headers or {}).items() if k != NATS_DEDUPE_HEADER}
        headers |= {
            DEAD + "Attempts": str(attempts),
            DEAD + "Error": error,
            DEAD + "At": repr(time.time()),
            NATS_DEDUPE_HEADER: f"dead:{cell}:{message.metadata.sequence.stream}",
        }
        subject = dead_channel(self.namespace, cell)
        try:
            publish = self.js.publish(subject, message.data, headers=headers)
            await self._bounded(publish, "publish dead letter")
            await self._bounded(message.ack_sync(), "ack")
        except TransportError as problem:
            log.warning("%s: a delivery not moved to %s (%s)", cell, subject, problem)
            return
        log.error(
            "%s: %s gave up after %d attempts, moved to %s (%s)",
            cell,
            headers.get(ID_HEADER),
            attempts,
            subject,
            error,
            extra={"delivery_id": str(headers.get(ID_HEADER, ""))[:80]},  # also before a handler
        )

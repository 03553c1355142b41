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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable
from typing import TypeVar

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig
from nats.js.errors import NotFoundError

from . import (
    ID_HEADER,
    NATS_DEDUPE_HEADER,
    REPLY_TO_HEADER,
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
ERRORS = (NatsError, OSError)
T = TypeVar("T")
PullSubscription = JetStreamContext.PullSubscription

BATCH = 16
FETCH_SECONDS = 1.0


class NatsTransport:
    kind: Kind = "nats"

    def __init__(
        self, url: str, namespace: str, timeout: float = 10.0, redeliver_after: float = 30.0
    ) -> None:
        self.url, self.namespace = url, namespace
        self.timeout, self.redeliver_after = timeout, redeliver_after
        self.stream = namespace.replace(".", "_")
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
        try:
            await self._bounded(self.js.stream_info(self.stream), "stream info")
        except TransportError as error:
            if not isinstance(error.__cause__, NotFoundError):
                raise
            config = StreamConfig(
                name=self.stream,
                subjects=[inbox(self.namespace, ">")],
                retention=RetentionPolicy.WORK_QUEUE,
            )
            await self._bounded(self.js.add_stream(config), "add stream")
        await self._nc.subscribe(self.replies, cb=self._on_reply)

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
        return await self._replies.call(
            lambda: self.enqueue(cell, delivery), cell, delivery_id, timeout
        )

    async def enqueue(self, cell: str, delivery: Delivery) -> None:
        # JetStream dedupes per stream, and every inbox shares the stream: the dedupe key
        # names the cell too, or an event sent to two cells would reach only the first.
        headers = {ID_HEADER: delivery.id, NATS_DEDUPE_HEADER: f"{cell}:{delivery.id}"}
        if delivery.reply_to is not None:
            headers[REPLY_TO_HEADER] = delivery.reply_to
        subject = inbox(self.namespace, cell)
        await self._bounded(self.js.publish(subject, delivery.body, headers=headers), "publish")

    async def serve(self, cell: str, handler: Handler) -> None:
        durable = await self._consumer(cell)
        subscription = await self._bounded(
            self.js.pull_subscribe_bind(durable, self.stream), "subscribe"
        )
        self._tasks.append(asyncio.create_task(self._consume(subscription, handler)))

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

    async def _consume(self, subscription: PullSubscription, handler: Handler) -> None:
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
                running.start(self._handle(message, handler))

    async def _handle(self, message: Msg, handler: Handler) -> None:
        headers = message.headers or {}
        if ID_HEADER not in headers:  # it can never be handled: drop it, do not loop on it
            log.error("a message on %s without %s; dropped", message.subject, ID_HEADER)
            await self._bounded(message.ack_sync(), "ack")
            return
        reply_to = headers.get(REPLY_TO_HEADER)
        delivery = Delivery(headers[ID_HEADER], message.data, reply_to)
        # in_progress() restarts ack_wait: a live worker keeps its delivery.
        lease = asyncio.create_task(keep_alive(message.in_progress, self.redeliver_after / 3))
        try:
            reply = await handler(delivery)
            if reply is not None and reply_to is not None and self._nc is not None:
                if reply_to.startswith(self.reply_prefix):
                    await self._nc.publish(reply_to, reply)
                else:  # only a caller's reply subject, never another inbox
                    log.warning("refused reply subject %.80r", reply_to)
            await self._bounded(message.ack_sync(), "ack")
        except Exception:  # not acknowledged: JetStream delivers it again after ack_wait
            log.exception("handling %s failed; it will be delivered again", delivery.id)
        finally:
            lease.cancel()

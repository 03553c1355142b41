# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Cells in other processes, as the bus sees them.

Every process (the gateway, and each `<cli> worker --cell NAME`) loads every cell's
declaration but wires only its *local* cells. For each other cell it puts a stand-in on
the bus: a handler that sends the message to that cell's inbox over a transport and
waits for the reply, so a caller cannot tell where the cell runs. Events are relayed
from the publishing cell's outbox: to local subscribers on the bus, and into the inbox of
each subscribing cell that lives elsewhere.

Which transport reaches a cell: a cell placed on a worker is reached over its placement's
transport; a cell of the gateway's process is reached, from a worker, over the worker's
own transport. So the gateway serves its cells' inboxes on every transport in use.

Every body sent over a transport (calls, events, replies) is sealed and signed
(`core/envelope.py`); an inbox delivery that is unsigned, forged, under an unknown key,
or a copy of one already handled is refused before it is decoded. It is logged as a
`delivery refused` warning (cell, reason and delivery id also in the log record's field
`delivery_refused`, for structured logs), counted in `Remote.refused`, passed to
`Remote.on_refused` when set (the gateway can audit it there; a worker has no audit log),
and acknowledged without a reply, so it neither runs nor loops. One that is ours but
`Untimely` (older than the replay window: a backlog, or a copy) does not run either, but
is not thrown away: it goes straight to the cell's dead letters (`Undeliverable`).
A refused *reply* fails the call as a transport error.

Logs: a call or an event sealed while a request is handled carries the request's
correlation id in its envelope; the receiving process binds the delivery's id and that
correlation id for the delivery's task (`core/logs.py`), so every line it logs about the
delivery, its own and the transport's, names both, and its own calls pass the id on.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from .bus import Bus, Handler, Rejected
from .cells import Registry, Wiring
from .codec import Codec, CodecError
from .envelope import Envelopes, Refused, ReplayGuard, Untimely
from .logs import bind_delivery, current_correlation_id
from .messages import Event, Message, Query, kind_of, result_type
from .outbox import DELIVERY_ID
from .transport import Delivery, Kind, Transport, TransportError, Undeliverable, reply_body

log = logging.getLogger(__name__)


class RemoteHandlerError(RuntimeError):
    """The cell's handler failed in the other process (its log has the details)."""


class SubscriberError(RuntimeError):
    """A subscriber failed on an event: it stays in the outbox or the inbox, for later."""


# Failures that pass: the same delivery later will likely succeed.
PASSING: tuple[type[Exception], ...] = (sqlite3.OperationalError, TransportError)


class PlacementError(ValueError):
    """The placements name a cell that does not exist, or a worker for an in-process cell."""


# (cell, reason, delivery id): told of each refused delivery, e.g. to audit it.
RefusalHook = Callable[[str, str, str], None]


def reply_channel_of(transport: Transport) -> str:
    """Where `transport.call` has replies sent (signed with the call, so a copy pointed
    elsewhere fails): Redis and NATS name a channel per process; memory replies inside
    the process, as `"memory"`."""
    return str(getattr(transport, "replies", "memory"))


def call_delivery_id(message: Message) -> str:
    """The delivery id of a call to a cell elsewhere: the caller's own when it set one
    outside any handler (the gateway does, from a client's Idempotency-Key, so a retry
    of a timed-out command is deduped by the worker), else a fresh one. Inside a handler
    the unit of work has cleared DELIVERY_ID, so nested calls are new deliveries; a
    query dedupes nothing, so it always gets its own (its id only routes the reply)."""
    ambient = DELIVERY_ID.get()
    if ambient and not isinstance(message, Query):
        return ambient
    return uuid.uuid4().hex  # one per call; redeliveries keep it


class Remote:
    """Stand-ins for the cells of other processes, and the inboxes of this process's."""

    def __init__(
        self,
        registry: Registry,
        codec: Codec,
        bus: Bus,
        placements: Mapping[str, Kind],
        local: frozenset[str],
        transports: Mapping[Kind, Transport],
        timeout: float,
        envelopes: Envelopes | None = None,
    ) -> None:
        unknown = set(placements) - {cell.name for cell in registry}
        if unknown:
            raise PlacementError(f"placements name unknown cells: {', '.join(sorted(unknown))}")
        self.registry, self.codec, self.bus = registry, codec, bus
        self.placements, self.local = dict(placements), local
        self.transports, self.timeout = transports, timeout
        self.wiring: dict[str, Wiring] = {}
        self._envelopes = envelopes  # None when this process uses no transport
        self.replays = ReplayGuard(envelopes.window if envelopes else 0.0)
        self.refused: Counter[tuple[str, str]] = Counter()  # by (cell, reason)
        self.on_refused: RefusalHook | None = None

    @property
    def envelopes(self) -> Envelopes:
        if self._envelopes is None:
            raise PlacementError("this process has no delivery keyring: it uses no transport")
        return self._envelopes

    def transport_for(self, cell: str) -> Transport:
        if cell in self.placements:
            return self.transports[self.placements[cell]]
        # A cell of the gateway's process, seen from a worker: over the worker's own.
        return self.transports[next(self.placements[name] for name in sorted(self.local))]

    def wire(self) -> None:
        """A stand-in on the bus for every command and query of a cell elsewhere."""
        for cell in self.registry:
            if cell.name in self.local:
                continue
            for message_type in cell.handles:
                self.bus.handle(message_type, self._stand_in(cell.name, message_type))

    def _stand_in(self, cell: str, message_type: type[Message]) -> Handler:
        returns = result_type(message_type)

        async def call(message: Message) -> Any:
            delivery_id = call_delivery_id(message)
            transport = self.transport_for(cell)
            reply_to = reply_channel_of(transport)
            encoded, cid = self.codec.encode(message), current_correlation_id()
            body = self.envelopes.seal("delivery", delivery_id, cell, reply_to, encoded, cid)
            sealed = await transport.call(cell, delivery_id, body, self.timeout)
            try:
                opened = self.envelopes.open("reply", delivery_id, cell, reply_to, sealed)
            except Refused as refusal:
                self._refused(cell, refusal, delivery_id, "a reply")
                raise TransportError(f"cell {cell!r}: its reply was refused: {refusal}") from None
            reply = json.loads(opened.body)
            if reply["status"] == "rejected":
                raise Rejected(reply["reason"])
            if reply["status"] != "ok":
                raise RemoteHandlerError(f"cell {cell!r} failed: {reply['reason']}")
            return self.codec.adapter(returns).validate_json(json.dumps(reply["result"]))

        call.__qualname__ = f"remote {cell}.{message_type.__name__}"
        return call

    async def relay(self, event_id: str, event: Event) -> None:
        """Deliver an event from an outbox: on this process's bus, and into the inbox of
        every subscribing cell elsewhere. It keeps its id everywhere, so receivers dedupe;
        if a subscriber fails it raises, and the outbox keeps the event for the next
        flush (the subscribers that succeeded skip it then)."""
        token = DELIVERY_ID.set(event_id)
        try:
            failed = await self.bus.deliver(event)
        finally:
            DELIVERY_ID.reset(token)
        body, cid = self.codec.encode(event), current_correlation_id()
        for cell in self.registry:
            if cell.name not in self.local and type(event) in cell.subscribes:
                sealed = self.envelopes.seal("delivery", event_id, cell.name, None, body, cid)
                await self.transport_for(cell.name).enqueue(cell.name, Delivery(event_id, sealed))
        if failed:
            raise SubscriberError(f"{failed} subscriber(s) of {type(event).__name__} failed")

    async def serve(self) -> None:
        """Consume the inbox of every local cell on every transport this process uses."""
        for transport in self.transports.values():
            for cell in sorted(self.local):
                await transport.serve(cell, functools.partial(self.handle, cell))

    async def handle(self, cell: str, delivery: Delivery) -> bytes | None:
        """Run one delivery from `cell`'s inbox; the sealed reply (None for events, and
        for a delivery refused as not ours: it is dropped unanswered).

        A delivery is opened and checked first (`core/envelope.py`); its MAC is kept as
        handled only once the handler has finished, so a redelivery of an entry whose
        handler failed or whose worker died still runs."""
        bind_delivery(delivery.id, "")  # the id alone until the envelope is verified
        try:
            opened = self.envelopes.open(
                "delivery", delivery.id, cell, delivery.reply_to, delivery.body
            )
            self.replays.check(opened)
        except Untimely as refusal:  # ours, but too old to tell from a copy: keep it
            self._refused(cell, refusal, delivery.id, "a delivery")
            # Not run, and no retry can make it younger: to the dead letters at once,
            # where an operator's replay gives it a new time (`Envelopes.refresh`).
            raise Undeliverable(refusal.reason) from None
        except Refused as refusal:  # not ours: acknowledged, unanswered, gone
            self._refused(cell, refusal, delivery.id, "a delivery")
            return None
        bind_delivery(delivery.id, opened.correlation_id)
        started = time.perf_counter()
        reply = await self._run(cell, delivery.id, opened.body)
        self.replays.finished(opened)
        elapsed = (time.perf_counter() - started) * 1000
        log.info("cell %s: delivery handled in %.1f ms", cell, elapsed)  # a worker's access log
        if reply is None:
            return None
        return self.envelopes.seal("reply", delivery.id, cell, delivery.reply_to, reply)

    def _refused(self, cell: str, refusal: Refused, delivery_id: str, what: str) -> None:
        self.refused[cell, refusal.reason] += 1
        fields = {"cell": cell, "reason": refusal.reason, "delivery_id": delivery_id[:80]}
        log.warning(
            "delivery refused: %s for cell %s, id %.80r: %s",
            what, cell, delivery_id, refusal, extra={"delivery_refused": fields},
        )  # fmt: skip
        if self.on_refused is not None:
            self.on_refused(cell, refusal.reason, delivery_id)

    async def _run(self, cell: str, delivery_id: str, body: bytes) -> bytes | None:
        """Run one verified delivery's body; its reply body (None for events).

        A refusal or a bug is answered (and the delivery acknowledged: running it again
        would fail again); a passing failure (a busy database, a transport or a
        subscriber failing) raises, so the transport delivers it again."""
        try:
            message = self.codec.decode(body)
        except CodecError as error:
            log.error("cell %s: undecodable delivery %s: %s", cell, delivery_id, error)
            return reply_body(delivery_id, "error", reason="undecodable message")
        if isinstance(message, Event):
            if not await self._deliver_event(cell, delivery_id, message):
                raise SubscriberError(f"cell {cell}: a subscriber failed on {delivery_id}")
            return None
        if self.registry.owner_of(type(message)).name != cell:
            return reply_body(delivery_id, "error", reason=f"{cell} does not handle it")
        token = DELIVERY_ID.set(delivery_id) if not isinstance(message, Query) else None
        try:
            if isinstance(message, Query):  # reads: nothing to dedupe
                result = await self.bus.ask(message)
            else:
                result = await self.bus.send(message)  # type: ignore[arg-type]
            return reply_body(delivery_id, "ok", self.codec.to_jsonable(result))
        except Rejected as refusal:
            return reply_body(delivery_id, "rejected", reason=str(refusal))
        except PASSING:
            raise
        except Exception as error:  # a bug: logged here, answered, not redelivered forever
            log.exception("cell %s failed on %s %s", cell, kind_of(type(message)), delivery_id)
            return reply_body(delivery_id, "error", reason=type(error).__name__)
        finally:
            if token is not None:
                DELIVERY_ID.reset(token)

    async def _deliver_event(self, cell: str, event_id: str, event: Event) -> bool:
        """Run `cell`'s subscribers of the event (each deduped by the event's id); False
        if any failed. Every subscriber runs, whatever the others do."""
        token, ok = DELIVERY_ID.set(event_id), True
        try:
            for subscriber in self.wiring[cell].subscribers.get(type(event), ()):
                try:
                    await subscriber(event)
                except Exception:
                    log.exception("cell %s: a subscriber failed on %s", cell, event_id)
                    ok = False
        finally:
            DELIVERY_ID.reset(token)
        return ok

    async def depths(self) -> dict[str, int]:
        """Inbox depth of every cell placed on a worker (for /metrics)."""
        depths: dict[str, int] = {}
        for cell, kind in sorted(self.placements.items()):
            try:
                depths[cell] = await self.transports[kind].depth(cell)
            except TransportError as error:
                log.warning("no inbox depth for %s: %s", cell, error)
        return depths

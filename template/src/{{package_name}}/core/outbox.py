"""Effects once, events never lost: each cell's unit of work and its outbox.

A command or event handler runs inside a *unit of work* on its cell's database: one SQLite
transaction that holds the handler's own writes, the events it publishes (written to the
cell's `outbox` table, not sent yet) and, when the message came with a delivery id, a row
in `processed_messages`. After the commit the outbox is *relayed*: each event goes to its
subscribers and its row is deleted. This is the pattern of Spring Modulith's event
publication registry, and what makes at-least-once delivery safe:

- a worker killed before the commit: nothing happened, the redelivered message runs anew;
- killed after the commit: the redelivered message finds its id in `processed_messages`
  and gets the stored result without running the handler again;
- killed before the relay finished: the outbox still holds the events, relayed at the next
  start; each keeps its id, so subscribers that already had it skip it.

Units of one cell run one at a time (one connection, one transaction); a handler that
calls back into its own cell joins the running unit. Queries read outside any unit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from .bus import Handler
from .codec import Codec
from .messages import Event, Message, result_type

log = logging.getLogger(__name__)

# The id of the delivery being handled (set by whoever delivers: the remote layer for a
# message from another process, the relay for an event); None for a plain local call.
DELIVERY_ID: ContextVar[str | None] = ContextVar("delivery_id", default=None)
# The cells whose units are open in this call chain: a call back into any of them joins
# its open transaction instead of waiting for its lock (A -> B -> A would deadlock).
_ACTIVE_UNITS: ContextVar[tuple[str, ...]] = ContextVar("active_units", default=())

TABLES = (
    """CREATE TABLE IF NOT EXISTS processed_messages (
        id TEXT PRIMARY KEY,
        result TEXT,
        processed_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )""",
    """CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        body BLOB NOT NULL,
        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )""",
)

Relay = Callable[[str, Event], Awaitable[None]]  # (event id, event): deliver everywhere


class Outbox:
    """One cell's unit of work and outbox, on that cell's own database."""

    def __init__(self, cell: str, database: sqlite3.Connection, codec: Codec) -> None:
        self.cell, self.database, self.codec = cell, database, codec
        self.relay: Relay | None = None  # set by the composition root once routes exist
        self._lock = asyncio.Lock()
        self._relaying = asyncio.Lock()
        for table in TABLES:
            database.execute(table)

    def wrap(self, handler: Handler, name: str) -> Handler:
        """`handler` run in a unit of work; `name` keys its processed deliveries."""

        async def in_unit(message: Message) -> Any:
            if self.in_unit():  # a call back into this cell's open unit: join it
                return await handler(message)
            delivery = DELIVERY_ID.get()
            key = f"{delivery}/{name}" if delivery else None
            async with self._lock:
                active = _ACTIVE_UNITS.set((*_ACTIVE_UNITS.get(), self.cell))
                cleared = DELIVERY_ID.set(None)  # calls the handler makes are new deliveries
                try:
                    done, result = await self._run(handler, message, key)
                finally:
                    _ACTIVE_UNITS.reset(active)
                    DELIVERY_ID.reset(cleared)
            if done:
                await self.flush()
            return result

        return in_unit

    async def _run(self, handler: Handler, message: Message, key: str | None) -> tuple[bool, Any]:
        self.database.execute("BEGIN IMMEDIATE")
        try:
            if key is not None:
                row = self.database.execute(
                    "SELECT result FROM processed_messages WHERE id = ?", (key,)
                ).fetchone()
                if row is not None:  # a redelivery of a message already handled
                    self.database.execute("ROLLBACK")
                    return False, self._stored(message, row[0])
            result = await handler(message)
            if key is not None:
                self.database.execute(
                    "INSERT INTO processed_messages (id, result) VALUES (?, ?)",
                    (key, json.dumps(self.codec.to_jsonable(result))),
                )
            self.database.execute("COMMIT")
        except BaseException:
            if self.database.in_transaction:  # also when COMMIT itself failed
                self.database.execute("ROLLBACK")
            raise
        return True, result

    def _stored(self, message: Message, text: str) -> Any:
        if isinstance(message, Event):
            return None
        return self.codec.adapter(result_type(type(message))).validate_json(text)

    def in_unit(self) -> bool:
        """True inside this cell's open unit of work (in this call chain)."""
        return self.cell in _ACTIVE_UNITS.get()

    async def add(self, event: Event) -> None:
        """Record an event; inside a unit it is sent after the commit, else at once."""
        row = (uuid.uuid4().hex, self.codec.encode(event))
        insert = "INSERT INTO outbox (id, body) VALUES (?, ?)"
        if self.in_unit():
            self.database.execute(insert, row)
            return
        async with self._lock:  # never inside another unit's open transaction
            self.database.execute(insert, row)
        await self.flush()

    def pending(self) -> int:
        row = self.database.execute("SELECT count(*) FROM outbox").fetchone()
        return int(row[0])

    async def flush(self) -> None:
        """Relay every recorded event, oldest first; a row goes only once relayed, so a
        failed relay (a transport down, a failing subscriber) is retried by the next flush
        or start. Rows are read and deleted under the unit lock, so an open unit's
        uncommitted events are never seen; the relay itself runs outside it."""
        if self.relay is None or self._relaying.locked():
            return  # the relay under way reads the table again before it stops
        async with self._relaying:
            while True:
                async with self._lock:
                    rows = self.database.execute(
                        "SELECT seq, id, body FROM outbox ORDER BY seq LIMIT 100"
                    ).fetchall()
                if not rows:
                    return
                for seq, event_id, body in rows:
                    event = self.codec.decode(body)
                    assert isinstance(event, Event)
                    try:
                        await self.relay(event_id, event)
                    except Exception:
                        log.exception("relaying event %s of %s failed; kept", event_id, self.cell)
                        return
                    async with self._lock:
                        self.database.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
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

Events and stored results are sealed at rest like records (`core/sealing.py`): an event
carries what its handler saw (a note's text) and a result what it answered. Each is bound
to its purpose (`#outbox`, `#result`), its cell and its row id, so a ciphertext copied to
another row or another cell's database does not open. An event's own result is nothing,
so its row in `processed_messages` holds no value. Rows an older version stored in
plaintext are sealed when the outbox opens, with SQLite's `secure_delete` on and the WAL
checkpointed, so their plaintext is overwritten, not left in free pages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from .bus import Handler
from .codec import Codec
from .messages import Event, Message, result_type
from .sealing import DataKeyError, Keyring, Sealed, place
from .storage import has_table, transaction

log = logging.getLogger(__name__)

# The id of the delivery being handled (set by whoever delivers: the remote layer for a
# message from another process, the relay for an event); None for a plain local call.
DELIVERY_ID: ContextVar[str | None] = ContextVar("delivery_id", default=None)
# The cells whose units are open in this call chain: a call back into any of them joins
# its open transaction instead of waiting for its lock (A -> B -> A would deadlock).
_ACTIVE_UNITS: ContextVar[tuple[str, ...]] = ContextVar("active_units", default=())

# `result` and `body` hold ciphertext; `key_id` and `nonce` come last because an older
# version's tables gain them with ALTER TABLE.
TABLES = (
    """CREATE TABLE IF NOT EXISTS processed_messages (
        id TEXT PRIMARY KEY,
        result BLOB,
        processed_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        key_id TEXT,
        nonce BLOB
    )""",
    """CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        body BLOB NOT NULL,
        created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        key_id TEXT,
        nonce BLOB
    )""",
)
KEY_COLUMNS = (("key_id", "TEXT"), ("nonce", "BLOB"))

Relay = Callable[[str, Event], Awaitable[None]]  # (event id, event): deliver everywhere


@dataclass(frozen=True)
class SealedColumn:
    """A sealed column of the unit of work's tables, whose rows are named by `id`."""

    table: str
    column: str
    purpose: str  # the first part of the associated data: never a cell name

    def place(self, cell: str, row_id: str) -> bytes:
        return place(self.purpose, cell, row_id)


EVENTS = SealedColumn("outbox", "body", "#outbox")
RESULTS = SealedColumn("processed_messages", "result", "#result")
SEALED_COLUMNS = (EVENTS, RESULTS)
# What to write back: (column, [(key id, nonce, ciphertext, row id), ...]).
Resealed = list[tuple[SealedColumn, list[tuple[str, bytes, bytes, str]]]]


def stored_messages(
    database: sqlite3.Connection, plaintext_only: bool = False
) -> Iterator[tuple[SealedColumn, str, Sealed | bytes]]:
    """Every event and stored result of a cell's database, sealed or (stored by an older
    version) plaintext: (its column, its row id, the sealed value or the plaintext)."""
    for sealed in SEALED_COLUMNS:
        if not has_table(database, sealed.table):
            continue
        keyed = _has_key_columns(database, sealed.table)
        where = f"{sealed.column} IS NOT NULL"
        if plaintext_only and keyed:
            where += " AND key_id IS NULL"
        select = "key_id, nonce" if keyed else "NULL, NULL"
        rows = database.execute(
            f"SELECT id, {select}, {sealed.column} FROM {sealed.table} WHERE {where}"
        )
        for row_id, key_id, nonce, value in rows.fetchall():
            if key_id is None:
                yield sealed, row_id, value.encode() if isinstance(value, str) else bytes(value)
            else:
                yield sealed, row_id, Sealed(key_id, nonce, value)


def resealed_messages(
    database: sqlite3.Connection,
    cell: str,
    current: Keyring,
    new: Keyring,
    plaintext_only: bool = False,
) -> Resealed:
    """Every event and stored result of `cell`'s database, opened with `current` and
    sealed under `new`'s active key, ready for `write_resealed_messages` (plaintext from
    an older version is sealed as it is). Reads only, so a value that does not open
    stops a rotation before anything is written."""
    batches: dict[SealedColumn, list[tuple[str, bytes, bytes, str]]] = {}
    for sealed, row_id, value in stored_messages(database, plaintext_only):
        label = sealed.place(cell, row_id)
        plain = current.open(value, label) if isinstance(value, Sealed) else value
        fresh = new.seal(plain, label)
        batches.setdefault(sealed, []).append((fresh.key_id, fresh.nonce, fresh.ciphertext, row_id))
    return list(batches.items())


def write_resealed_messages(database: sqlite3.Connection, resealed: Resealed) -> int:
    """Write `resealed` inside the caller's transaction; how many rows changed."""
    for sealed, batch in resealed:
        add_key_columns(database, sealed.table)
        database.executemany(
            f"UPDATE {sealed.table} SET key_id = ?, nonce = ?, {sealed.column} = ? WHERE id = ?",
            batch,
        )
    return sum(len(batch) for _, batch in resealed)


def _has_key_columns(database: sqlite3.Connection, table: str) -> bool:
    columns = {row[1] for row in database.execute(f"PRAGMA table_info({table})")}
    return {name for name, _ in KEY_COLUMNS} <= columns


def add_key_columns(database: sqlite3.Connection, table: str) -> None:
    """Give a table an older version made the columns sealing needs."""
    columns = {row[1] for row in database.execute(f"PRAGMA table_info({table})")}
    for name, kind in KEY_COLUMNS:
        if name not in columns:
            database.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


@contextmanager
def overwriting_freed_pages(database: sqlite3.Connection) -> Iterator[None]:
    """Writes that zero what they replace (`secure_delete`), then a checkpoint that
    empties the WAL: for replacing plaintext, so no copy of it stays on disk."""
    (previous,) = database.execute("PRAGMA secure_delete").fetchone()
    database.execute("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        database.execute(f"PRAGMA secure_delete = {int(previous)}")
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class Outbox:
    """One cell's unit of work and outbox, on that cell's own database."""

    def __init__(
        self, cell: str, database: sqlite3.Connection, codec: Codec, keyring: Keyring
    ) -> None:
        self.cell, self.database, self.codec, self.keyring = cell, database, codec, keyring
        self.relay: Relay | None = None  # set by the composition root once routes exist
        self._lock = asyncio.Lock()
        self._relaying = asyncio.Lock()
        for table in TABLES:
            database.execute(table)
        for sealed in SEALED_COLUMNS:
            add_key_columns(database, sealed.table)
        self._seal_plaintext()
        self.check_keys()

    def _seal_plaintext(self) -> None:
        """Seal the events and results an older version stored in plaintext."""
        legacy = resealed_messages(
            self.database, self.cell, self.keyring, self.keyring, plaintext_only=True
        )
        if not legacy:
            return
        with overwriting_freed_pages(self.database), transaction(self.database):
            count = write_resealed_messages(self.database, legacy)
        log.warning("cell %s: sealed %d events and results stored in plaintext", self.cell, count)

    def check_keys(self) -> None:
        """Open one sealed value per key id in use, so a wrong or missing key fails at
        start, as records do."""
        for sealed in SEALED_COLUMNS:
            rows = self.database.execute(
                f"SELECT id, key_id, nonce, {sealed.column} FROM {sealed.table} "
                "WHERE key_id IS NOT NULL GROUP BY key_id"
            )
            for row_id, *value in rows:
                self.keyring.open(Sealed(*value), sealed.place(self.cell, row_id))

    def _seal(self, sealed: SealedColumn, row_id: str, plain: bytes) -> tuple[str, bytes, bytes]:
        box = self.keyring.seal(plain, sealed.place(self.cell, row_id))
        return box.key_id, box.nonce, box.ciphertext

    def _open(
        self, sealed: SealedColumn, row_id: str, key_id: str, nonce: bytes, value: bytes
    ) -> bytes:
        return self.keyring.open(Sealed(key_id, nonce, value), sealed.place(self.cell, row_id))

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
                    "SELECT key_id, nonce, result FROM processed_messages WHERE id = ?", (key,)
                ).fetchone()
                if row is not None:  # a redelivery of a message already handled
                    self.database.execute("ROLLBACK")
                    return False, self._stored(message, key, *row)
            result = await handler(message)
            if key is not None:
                self._remember(message, key, result)
            self.database.execute("COMMIT")
        except BaseException:
            if self.database.in_transaction:  # also when COMMIT itself failed
                self.database.execute("ROLLBACK")
            raise
        return True, result

    def _remember(self, message: Message, key: str, result: Any) -> None:
        if isinstance(message, Event):  # nothing to answer a redelivery with
            self.database.execute("INSERT INTO processed_messages (id) VALUES (?)", (key,))
            return
        text = json.dumps(self.codec.to_jsonable(result)).encode()
        self.database.execute(
            "INSERT INTO processed_messages (id, key_id, nonce, result) VALUES (?, ?, ?, ?)",
            (key, *self._seal(RESULTS, key, text)),
        )

    def _stored(self, message: Message, key: str, key_id: str, nonce: bytes, value: bytes) -> Any:
        if isinstance(message, Event):
            return None
        text = self._open(RESULTS, key, key_id, nonce, value)
        return self.codec.adapter(result_type(type(message))).validate_json(text)

    def in_unit(self) -> bool:
        """True inside this cell's open unit of work (in this call chain)."""
        return self.cell in _ACTIVE_UNITS.get()

    async def add(self, event: Event) -> None:
        """Record an event; inside a unit it is sent after the commit, else at once."""
        event_id = uuid.uuid4().hex
        row = (event_id, *self._seal(EVENTS, event_id, self.codec.encode(event)))
        insert = "INSERT INTO outbox (id, key_id, nonce, body) VALUES (?, ?, ?, ?)"
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
                        "SELECT seq, id, key_id, nonce, body FROM outbox ORDER BY seq LIMIT 100"
                    ).fetchall()
                if not rows:
                    return
                for seq, event_id, *sealed in rows:
                    try:
                        event = self.codec.decode(self._open(EVENTS, event_id, *sealed))
                    except DataKeyError as error:  # altered, or moved here: kept, not sent
                        log.error("%s: event %s kept: %s", self.cell, event_id, error)
                        return
                    assert isinstance(event, Event)
                    try:
                        await self.relay(event_id, event)
                    except Exception:
                        log.exception("relaying event %s of %s failed; kept", event_id, self.cell)
                        return
                    async with self._lock:
                        self.database.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

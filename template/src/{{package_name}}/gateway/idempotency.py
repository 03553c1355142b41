# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`Idempotency-Key` on commands: a client's retry gets the first answer, not a second run.

The behaviour is draft-ietf-httpapi-idempotency-key-header's. A command sent with
`Idempotency-Key: <key>` (1-255 visible ASCII characters: the draft's quoted string, such
as `"8e03978e-40d5-43e8-bc93-6894a57f9324"`, or a bare token) is remembered per
(principal, route, key):
- a retry with the same body gets the stored answer (same status, same body);
- the same key with another body gets 422; a retry while the first still runs, 409;
- a malformed key (or two of them) gets 400;
- an answer is stored when the command ran to an answer (200, or the cell's 422). When
  its outcome is unknown (503, 504, an error, a cancelled request) nothing is stored and
  a retry may run it again, as the *same delivery*: `delivery_id` is what the gateway sets
  as the ambient DELIVERY_ID around the bus call, so the cell's unit of work (in this
  process or on a worker) dedupes it by its `processed_messages`;
- a key expires `idempotency_ttl_seconds` after its first use; then it is new again,
  with a new delivery id (the id is derived from the key *and* that first use).

The store is `<data_dir>/gateway-idempotency.sqlite3` (memory without a data dir): a
database like a cell's (created 0600, WAL), whose `sealed_records` hold each key's body
fingerprint and answer sealed like records (`core/storage.py`: AES-GCM, key id, the
associated data naming the row, itself a hash of principal, route and key). The name has
a hyphen, which no cell name can, so the runbooks that see every `*.sqlite3` (rotate-data
re-encrypts it, backup copies it) treat it like a cell's database and never confuse the
two. Plaintext columns hold only that hash and times.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.sealing import Keyring
from ..core.storage import Records, open_cell_database, transaction

HEADER = "idempotency-key"
STORE = "gateway-idempotency"  # a hyphen: never a cell's name
COLLECTION = "requests"
SWEEP_SECONDS = 60.0

# Visible ASCII, no space. The draft's form is a structured-field string (`"..."`); its
# quotes are visible ASCII, so the key is the whole value, opaque, quotes and all.
KEY_PATTERN = "^[!-~]{1,255}$"
KEY = re.compile(KEY_PATTERN)

TABLE = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    id TEXT PRIMARY KEY,          -- sha256(principal, route, key)
    first_used REAL NOT NULL,     -- Unix time: with id, makes the delivery id
    expires REAL NOT NULL,
    running_until REAL NOT NULL,  -- 0 when not running; a lease, in case of a crash
    answered INTEGER NOT NULL     -- 1 once an answer is stored
)
"""
EXPIRES_INDEX = "CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency_keys (expires)"


class MalformedKeyError(ValueError):
    """The `Idempotency-Key` header is not one key of 1-255 visible ASCII characters."""


def key_from(values: list[str]) -> str | None:
    """The key the `Idempotency-Key` header values give, or None without the header."""
    if not values:
        return None
    if len(values) > 1 or not KEY.fullmatch(values[0]):
        raise MalformedKeyError("Send one Idempotency-Key of 1-255 visible ASCII characters")
    return values[0]


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    media_type: str


@dataclass(frozen=True)
class Claim:
    """A key this request now runs under."""

    row: str
    fingerprint: str
    delivery_id: str


@dataclass(frozen=True)
class Refusal:
    status: int  # 409 running, 422 another body
    detail: str


class IdempotencyStore:
    """The keys seen and the answers stored; used from the event loop only."""

    def __init__(self, data_dir: Path | None, keyring: Keyring, ttl: float, lease: float) -> None:
        self.database: sqlite3.Connection = open_cell_database(data_dir, STORE)
        self.database.execute(TABLE)
        self.database.execute(EXPIRES_INDEX)  # the sweep's, so it never scans every key
        self.records = Records(self.database, STORE, keyring)
        self.records.check_keys()  # a wrong data key stops the start, as for a cell
        self.ttl, self.lease = ttl, lease
        self._next_sweep = 0.0

    def begin(
        self, principal: str, route: str, key: str, fingerprint: str
    ) -> Answer | Refusal | Claim:
        """The stored answer, a refusal, or a claim to run the command under this key."""
        now = time.time()
        if now >= self._next_sweep:
            self._sweep(now)
        row = hashlib.sha256(f"{principal}\0{route}\0{key}".encode()).hexdigest()
        with transaction(self.database):
            found = self.database.execute(
                "SELECT first_used, running_until, answered FROM idempotency_keys "
                "WHERE id = ? AND expires > ?",
                (row, now),
            ).fetchone()
            if found is None:
                first_used = now
                self.database.execute("DELETE FROM idempotency_keys WHERE id = ?", (row,))
                self.database.execute(
                    "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, 0)",
                    (row, now, now + self.ttl, now + self.lease),
                )
                self._seal(row, {"fingerprint": fingerprint})
                return Claim(row, fingerprint, _delivery_id(row, first_used))
            first_used, running_until, answered = found
            stored = self._open(row)
            if stored.get("fingerprint") != fingerprint:
                return Refusal(422, "This Idempotency-Key was used with another body.")
            if answered:
                return Answer(stored["status"], stored["body"].encode(), stored["media_type"])
            if running_until > now:
                return Refusal(409, "A request with this Idempotency-Key is still running.")
            self.database.execute(
                "UPDATE idempotency_keys SET running_until = ? WHERE id = ?",
                (now + self.lease, row),
            )
            return Claim(row, fingerprint, _delivery_id(row, first_used))

    def finish(self, claim: Claim, answer: Answer) -> None:
        """Store the answer the claimed command got."""
        with transaction(self.database):
            self._seal(
                claim.row,
                {
                    "fingerprint": claim.fingerprint,
                    "status": answer.status,
                    "body": answer.body.decode(),
                    "media_type": answer.media_type,
                },
            )
            self.database.execute(
                "UPDATE idempotency_keys SET running_until = 0, answered = 1 WHERE id = ?",
                (claim.row,),
            )

    def release(self, claim: Claim) -> None:
        """The command's outcome is unknown: a retry may run it again (same delivery)."""
        self.database.execute(
            "UPDATE idempotency_keys SET running_until = 0 WHERE id = ?", (claim.row,)
        )

    def close(self) -> None:
        self.database.close()

    def _seal(self, row: str, value: dict[str, object]) -> None:
        self.records.put(COLLECTION, row, json.dumps(value).encode())

    def _open(self, row: str) -> dict[str, Any]:
        sealed = self.records.get(COLLECTION, row)
        opened: dict[str, Any] = json.loads(sealed) if sealed is not None else {}
        return opened

    def _sweep(self, now: float) -> None:
        """Forget expired keys (their sealed answers with them), at most once a minute."""
        self._next_sweep = now + SWEEP_SECONDS
        with transaction(self.database):
            self.database.execute(
                "DELETE FROM sealed_records WHERE collection = ? AND key IN "
                "(SELECT id FROM idempotency_keys WHERE expires <= ?)",
                (COLLECTION, now),
            )
            self.database.execute("DELETE FROM idempotency_keys WHERE expires <= ?", (now,))


def _delivery_id(row: str, first_used: float) -> str:
    """The delivery id of every run under one key, until it expires."""
    return "idem-" + hashlib.sha256(f"{row}\0{first_used!r}".encode()).hexdigest()[:32]


def fingerprint_of(encoded_message: bytes) -> str:
    """What 'the same body' means: the message as the codec encodes it (so key order or
    spacing does not matter; a different value does)."""
    return hashlib.sha256(encoded_message).hexdigest()

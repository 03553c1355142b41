# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Embedded storage: one SQLite database per cell, and encrypted records inside it.

Each cell owns its own database file (`<data_dir>/<cell>.sqlite3`), so no cell can
join across another cell's tables, and a cell moved to its own process later takes its
data with it. With no data directory (tests), each cell gets a private in-memory database.
The data directory is its owner's only (0700) and each database file 0600, created so
before SQLite opens it (`core/private.py`), which gives its WAL and shared-memory files
the same mode.

`Records` is where a cell keeps values that must be encrypted at rest: `put`/`get` bytes
by (collection, key), sealed with AES-GCM (`core/sealing.py`). Keep searchable, non-secret
columns (ids, timestamps) in the cell's own tables and the payload in `Records`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .private import private_database
from .sealing import Keyring, Sealed, place

Resealed = tuple[str, bytes, bytes, str, str]  # key id, nonce, ciphertext, collection, key

RECORDS_TABLE = """
CREATE TABLE IF NOT EXISTS sealed_records (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (collection, key)
)
"""


def database_path(data_dir: Path, cell: str) -> Path:
    return data_dir / f"{cell}.sqlite3"


def open_cell_database(data_dir: Path | None, cell: str) -> sqlite3.Connection:
    """Open (creating if needed) the database that belongs to `cell`."""
    target = ":memory:" if data_dir is None else private_database(database_path(data_dir, cell))
    # The event loop's thread and uvicorn's worker threads may both use the connection;
    # SQLite serialises access itself in its default threading mode.
    connection = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA busy_timeout = 5000")
    if target != ":memory:":
        connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(RECORDS_TABLE)
    return connection


@contextmanager
def transaction(database: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (the write lock taken at once), rolled back on any error."""
    database.execute("BEGIN IMMEDIATE")
    try:
        yield database
    except BaseException:
        database.execute("ROLLBACK")
        raise
    database.execute("COMMIT")


def has_table(database: sqlite3.Connection, name: str) -> bool:
    row = database.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return row.fetchone() is not None


class Records:
    """A cell's encrypted values, keyed by (collection, key)."""

    def __init__(self, database: sqlite3.Connection, cell: str, keyring: Keyring) -> None:
        self.database, self.cell, self.keyring = database, cell, keyring

    def _label(self, collection: str, key: str) -> bytes:
        return place(self.cell, collection, key)

    def put(self, collection: str, key: str, value: bytes) -> None:
        sealed = self.keyring.seal(value, self._label(collection, key))
        self.database.execute(
            "INSERT OR REPLACE INTO sealed_records VALUES (?, ?, ?, ?, ?)",
            (collection, key, sealed.key_id, sealed.nonce, sealed.ciphertext),
        )

    def get(self, collection: str, key: str) -> bytes | None:
        row = self.database.execute(
            "SELECT key_id, nonce, ciphertext FROM sealed_records WHERE collection = ? AND key = ?",
            (collection, key),
        ).fetchone()
        if row is None:
            return None
        return self.keyring.open(Sealed(*row), self._label(collection, key))

    def delete(self, collection: str, key: str) -> None:
        self.database.execute(
            "DELETE FROM sealed_records WHERE collection = ? AND key = ?", (collection, key)
        )

    def check_keys(self) -> None:
        """Open one record per key id in use, so a wrong or missing key fails at start."""
        rows = self.database.execute(
            "SELECT collection, key, key_id, nonce, ciphertext FROM sealed_records GROUP BY key_id"
        )
        for collection, key, *sealed in rows:
            self.keyring.open(Sealed(*sealed), self._label(collection, key))

    def resealed(self, new: Keyring) -> list[Resealed]:
        """Every record re-encrypted under `new`'s active key, ready to write; reading
        them opens each one, so a wrong or missing key fails here, before any write."""
        rows = self.database.execute(
            "SELECT collection, key, key_id, nonce, ciphertext FROM sealed_records"
        ).fetchall()
        resealed: list[Resealed] = []
        for collection, key, *sealed in rows:
            label = self._label(collection, key)
            fresh = new.seal(self.keyring.open(Sealed(*sealed), label), label)
            resealed.append((fresh.key_id, fresh.nonce, fresh.ciphertext, collection, key))
        return resealed

    def write_resealed(self, resealed: list[Resealed], new: Keyring) -> None:
        """Replace the records with `resealed`, inside the caller's transaction (so that
        the cell's other sealed values can change in the same one)."""
        self.database.executemany(
            "UPDATE sealed_records SET key_id = ?, nonce = ?, ciphertext = ? "
            "WHERE collection = ? AND key = ?",
            resealed,
        )
        self.keyring = new

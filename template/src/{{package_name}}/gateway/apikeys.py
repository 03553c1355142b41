# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""API keys: high-entropy bearer secrets, stored only as SHA-256 hashes.

A key reads `ck_<id>_<secret>`: the id finds the row, the 256-bit secret is compared
by hash in constant time. A fast hash is right here (unlike for passwords) because the
secret is random, not guessable. The plain key is shown once, by `<cli> keys create`,
and never stored or logged; `keys revoke` disables a key at once. The hashes live in
`<keys_dir>/api-keys.sqlite3` (in memory with no keys_dir, for tests).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..core.private import private_database

PREFIX = "ck_"
SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


@dataclass(frozen=True)
class ApiKey:
    id: str
    role: str
    created_at: str
    revoked_at: str | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    def __init__(self, keys_dir: Path | None) -> None:
        # In a folder of mode 0700, a file of mode 0600 (core/private.py).
        target = ":memory:" if keys_dir is None else private_database(keys_dir / "api-keys.sqlite3")
        self.database = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self.database.execute("PRAGMA busy_timeout = 5000")
        self.database.execute(SCHEMA)

    def create(self, role: str) -> tuple[str, str]:
        """A new key for `role`: returns (id, the plain key, to be shown once)."""
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        self.database.execute(
            "INSERT INTO api_keys (id, role, hash, created_at) VALUES (?, ?, ?, ?)",
            (key_id, role, _hash(secret), datetime.now(UTC).isoformat(timespec="seconds")),
        )
        return key_id, f"{PREFIX}{key_id}_{secret}"

    def revoke(self, key_id: str) -> bool:
        cursor = self.database.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (datetime.now(UTC).isoformat(timespec="seconds"), key_id),
        )
        return cursor.rowcount == 1

    def role_of(self, key: str) -> tuple[str, str] | None:
        """(id, role) of a valid, unrevoked key, or None."""
        key_id, _, secret = key.removeprefix(PREFIX).partition("_")
        row = self.database.execute(
            "SELECT role, hash FROM api_keys WHERE id = ? AND revoked_at IS NULL", (key_id,)
        ).fetchone()
        if row is None or not hmac.compare_digest(row[1], _hash(secret)):
            return None
        return key_id, str(row[0])

    def all(self) -> list[ApiKey]:
        rows = self.database.execute(
            "SELECT id, role, created_at, revoked_at FROM api_keys ORDER BY created_at"
        )
        return [ApiKey(*row) for row in rows]

    def close(self) -> None:
        self.database.close()

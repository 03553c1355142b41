# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The audit log: append-only, hash-chained, HMAC-keyed JSON lines, with checkpoints.

Each entry is one line of canonical JSON holding its sequence number, a UTC time, the
fields given, the MAC of the previous entry (`prev`) and its own `mac`: an HMAC-SHA256,
under a key the log never stores, of everything before it. So an edited line breaks its
MAC, and a deleted or reordered line breaks the chain. Appending at the tail can still
hide a truncation, so a signed checkpoint (count and head MAC) goes to a side file every
`checkpoint_every` entries, at each batched fsync and on close; `verify` compares the log
with the last checkpoint.

Values are JSON-encoded with `ensure_ascii`, so nothing in a field can start a new line
or smuggle control characters into the file (log injection).

Durability (`fsync`):
- `always`: fsync after every entry, before the caller gets control back.
- `batch` (default): each entry is written with `os.write` before `append` returns, so it
  survives the process being killed; a background thread fsyncs every `window` seconds
  (50 ms by default), so a machine crash loses at most that window.
- `off`: the operating system decides when data reaches the disk.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ..core.private import private_folder

FsyncPolicy = Literal["always", "batch", "off"]
GENESIS = "0" * 64


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def checkpoint_path(log: Path) -> Path:
    return log.with_name(log.name + ".checkpoints")


class AuditLog:
    """An open audit log. `append` is safe to call from one thread at a time."""

    def __init__(
        self,
        path: Path,
        key: bytes,
        fsync: FsyncPolicy = "batch",
        window: float = 0.05,
        checkpoint_every: int = 256,
    ) -> None:
        if len(key) < 32:
            raise ValueError("the audit key must be at least 32 bytes")
        if not 0 < window <= 0.05:
            raise ValueError("the fsync window must be more than 0 and at most 50 ms")
        self.path, self._key, self._policy = path, key, fsync
        self._window, self._every = window, checkpoint_every
        private_folder(path.parent)  # the log and its checkpoints are created 0600
        self.count, self.head = _tail(path)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        self._fd = os.open(path, flags, 0o600)
        self._marks = os.open(checkpoint_path(path), flags, 0o600)
        self._lock = threading.Lock()  # (count, head) change together
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._syncer: threading.Thread | None = None
        if fsync == "batch":
            self._syncer = threading.Thread(target=self._sync_loop, daemon=True)
            self._syncer.start()

    def append(self, **fields: Any) -> str:
        """Write one entry (before returning) and return its MAC."""
        with self._lock:
            record = {
                **fields,
                "seq": self.count + 1,
                "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                "prev": self.head,
            }
            body = _canonical(record)
            mac = _mac(self._key, body)
            os.write(self._fd, body[:-1] + b',"mac":"' + mac.encode() + b'"}\n')
            self.count, self.head = self.count + 1, mac
        if self._policy == "always":
            os.fsync(self._fd)
        elif self._policy == "batch":
            self._dirty.set()
        if self.count % self._every == 0:
            self.checkpoint()
        return mac

    def checkpoint(self) -> None:
        """Record the signed (count, head) so that a truncated tail is detectable."""
        with self._lock:
            body = _canonical({"count": self.count, "head": self.head})
        os.write(self._marks, body[:-1] + b',"mac":"' + _mac(self._key, body).encode() + b'"}\n')

    def _sync_loop(self) -> None:
        while not self._closed.is_set():
            self._closed.wait(self._window)
            if self._dirty.is_set():
                self._dirty.clear()
                os.fsync(self._fd)
                self.checkpoint()
                os.fsync(self._marks)

    def close(self) -> None:
        """Sync, checkpoint and close; closing twice is harmless."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._syncer is not None:
            self._syncer.join()
        self.checkpoint()
        for fd in (self._fd, self._marks):
            os.fsync(fd)
            os.close(fd)


def _tail(path: Path) -> tuple[int, str]:
    """The count and head MAC of an existing log (its last line), or an empty chain."""
    if not path.exists() or path.stat().st_size == 0:
        return 0, GENESIS
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - 65536))
        last = file.read().splitlines()[-1]
    record = json.loads(last)
    return int(record["seq"]), str(record["mac"])


@dataclass
class Verdict:
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def refusal_entries(audit: AuditLog) -> Callable[[str, str, str], None]:
    """What `Remote.on_refused` calls (core/remote.py): one audit entry per delivery the
    process refused as unsigned, forged or replayed, in this process's own log."""

    def record(cell: str, reason: str, delivery_id: str) -> None:
        audit.append(event="delivery.refused", cell=cell, reason=reason, delivery=delivery_id[:80])

    return record


def verify(path: Path, key: bytes) -> Verdict:
    """Check every MAC, the chain, the order and the last checkpoint."""
    verdict = Verdict()
    mark = _last_checkpoint(path, key, verdict)
    head = GENESIS
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            record = json.loads(raw)
            mac = record.pop("mac")
        except (ValueError, KeyError, AttributeError):
            verdict.problems.append(f"line {number}: not an audit entry")
            break
        if not hmac.compare_digest(mac, _mac(key, _canonical(record))):
            verdict.problems.append(f"line {number}: MAC mismatch (the entry was edited)")
            break
        if record.get("seq") != number or record.get("prev") != head:
            verdict.problems.append(
                f"line {number}: chain broken (an entry was deleted, inserted or moved)"
            )
            break
        if mark and mark["count"] == number and mark["head"] != mac:
            verdict.problems.append(f"line {number}: differs from the signed checkpoint")
            break
        head, verdict.entries = mac, number
    if verdict.ok and mark and mark["count"] > verdict.entries:
        verdict.problems.append(
            f"truncated: the last checkpoint counts {mark['count']} entries, "
            f"the log has {verdict.entries}"
        )
    return verdict


def _last_checkpoint(path: Path, key: bytes, verdict: Verdict) -> dict[str, Any] | None:
    marks = checkpoint_path(path)
    if not marks.exists() or marks.stat().st_size == 0:
        return None
    record: dict[str, Any] = json.loads(marks.read_bytes().splitlines()[-1])
    mac = record.pop("mac")
    if not hmac.compare_digest(mac, _mac(key, _canonical(record))):
        verdict.problems.append("the last checkpoint's MAC does not match (it was edited)")
        return None
    return record

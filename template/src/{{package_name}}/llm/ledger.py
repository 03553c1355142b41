# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The usage ledger: one SQLite row per model call, what budgets are judged against.

A call is *reserved* at its worst-case estimate before it is sent, in the same
`BEGIN IMMEDIATE` transaction that sums the day's spending and checks the budgets, so
two concurrent calls (tasks, threads, or processes sharing the file) can never both pass
a budget only one of them fits. When the provider answers, the row is *settled* with the
usage the provider reported. When the call fails before its request could reach the
provider (no connection), it is *released*: it counts nothing. When it fails after (a
timeout, the caller gave up, a 5xx, a malformed reply), the provider may well bill it,
so it is *kept* at its worst case, as outcome `unknown`. Refused calls are recorded too,
so the metrics can count them. A run made of several calls (a cell's regeneration:
`codegen/`) keeps its record in the `runs` table of the same file.

Days are UTC days. The file is `<data_dir>/llm-usage.sqlite3` (`Settings.llm_ledger_path`);
without a data directory (tests) the ledger lives in memory. The file and its WAL are
mode 0600 (they show who calls which model, when). A reservation left by a
process that died mid-call keeps counting until its day ends: the safe side.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..core.private import private_database
from .budget import BudgetExceeded, Budgets, Estimate, check
from .pins import Pin

Clock = Callable[[], datetime]

SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    day TEXT NOT NULL,
    principal TEXT NOT NULL,
    purpose TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_calls_by_day ON llm_calls (day, principal);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    record TEXT NOT NULL
);
"""
# A row's tokens and cost by outcome: a reservation's estimate (in flight, or `unknown`:
# failed after sending, kept), a settled call's actual usage; released (`failed`) and
# refused calls count nothing. Only a `reserved` row ever changes its outcome.
RESERVED, OK, UNKNOWN, FAILED, REFUSED = "reserved", "ok", "unknown", "failed", "refused"
COUNTED = (RESERVED, OK, UNKNOWN)
OUTCOMES = (OK, UNKNOWN, FAILED, REFUSED)  # where a call ends


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Usage:
    """The summed rows of one (purpose, model, outcome), over one day or all time."""

    purpose: str
    model: str
    outcome: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class Ledger:
    def __init__(self, path: Path | None = None, clock: Clock = utc_now) -> None:
        target = ":memory:" if path is None else private_database(path)  # 0600, WAL too
        self.clock = clock
        # One connection, used from any thread under `_lock`; other processes sharing the
        # file wait for SQLite's write lock (busy_timeout) rather than fail.
        self.database = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self.database.execute("PRAGMA busy_timeout = 5000")
        if target != ":memory:":
            self.database.execute("PRAGMA journal_mode = WAL")
        self.database.executescript(SCHEMA)
        self._lock = threading.Lock()

    def today(self) -> str:
        return self.clock().astimezone(UTC).date().isoformat()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.database.execute("BEGIN IMMEDIATE")  # the write lock, before reading
            try:
                yield self.database
            except BaseException:
                self.database.execute("ROLLBACK")
                raise
            self.database.execute("COMMIT")

    def _spent(self, day: str, principal: str | None = None) -> Estimate:
        query = (
            "SELECT COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
            "COALESCE(SUM(cost_usd), 0.0) FROM llm_calls WHERE day = ? AND outcome IN (?, ?, ?)"
        )
        arguments: tuple[str, ...] = (day, *COUNTED)
        if principal is not None:
            query, arguments = query + " AND principal = ?", (*arguments, principal)
        input_tokens, output_tokens, usd = self.database.execute(query, arguments).fetchone()
        return Estimate(int(input_tokens), int(output_tokens), float(usd))

    def spent(self, day: str, principal: str | None = None) -> Estimate:
        """Tokens and USD used or reserved on `day`, by `principal` or by everyone."""
        with self._lock:
            return self._spent(day, principal)

    def reserve(self, principal: str, pin: Pin, call: Estimate, budgets: Budgets) -> int:
        """Check `call` against every budget and reserve it; the row id settles it later.
        Raises `BudgetExceeded` (once the refusal is recorded) when a budget is short."""
        now = self.clock().astimezone(UTC)
        day = now.date().isoformat()
        row = (now.isoformat(timespec="milliseconds"), day, principal, pin.purpose, pin.model)
        refusal: BudgetExceeded | None = None
        with self._transaction() as database:
            try:
                check("per_call", budgets.per_call, None, call)
                mine = self._spent(day, principal)
                check("per_principal_day", budgets.per_principal_day, mine, call)
                check("global_day", budgets.global_day, self._spent(day), call)
            except BudgetExceeded as exceeded:
                refusal, figures = exceeded, (0, 0, 0.0, REFUSED)
            else:
                figures = (call.input_tokens, call.output_tokens, call.usd, RESERVED)
            cursor = database.execute(
                "INSERT INTO llm_calls VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*row, *figures)
            )
        if refusal is not None:
            raise refusal
        return int(cursor.lastrowid or 0)

    def settle(self, call_id: int, input_tokens: int, output_tokens: int, usd: float) -> None:
        """Replace a reservation with the usage the provider reported."""
        with self._transaction() as database:
            database.execute(
                "UPDATE llm_calls SET input_tokens = ?, output_tokens = ?, cost_usd = ?, "
                "outcome = ? WHERE id = ? AND outcome = ?",
                (input_tokens, output_tokens, usd, OK, call_id, RESERVED),
            )

    def release(self, call_id: int) -> None:
        """Free a reservation whose request never reached the provider: it counts nothing."""
        with self._transaction() as database:
            database.execute(
                "UPDATE llm_calls SET input_tokens = 0, output_tokens = 0, cost_usd = 0.0, "
                "outcome = ? WHERE id = ? AND outcome = ?",
                (FAILED, call_id, RESERVED),
            )

    def keep(self, call_id: int) -> None:
        """Keep the worst case of a call that failed after its request was sent: the
        provider may bill it, and what it used is unknown."""
        with self._transaction() as database:
            database.execute(
                "UPDATE llm_calls SET outcome = ? WHERE id = ? AND outcome = ?",
                (UNKNOWN, call_id, RESERVED),
            )

    def usage(self, day: str | None = None) -> list[Usage]:
        """The rows summed per (purpose, model, outcome): of `day`, or of all time."""
        where, arguments = ("WHERE day = ?", (day,)) if day else ("", ())
        with self._lock:
            rows = self.database.execute(
                "SELECT purpose, model, outcome, COUNT(*), SUM(input_tokens), "
                f"SUM(output_tokens), SUM(cost_usd) FROM llm_calls {where} "
                "GROUP BY purpose, model, outcome",
                arguments,
            ).fetchall()
        return [Usage(p, m, o, int(n), int(i), int(x), float(c)) for p, m, o, n, i, x, c in rows]

    def record_run(self, kind: str, subject: str, record: str) -> None:
        """Keep the record (JSON) of a run made of calls, e.g. a cell's regeneration:
        its calls are rows above, the record says what they were for and how it ended."""
        at = self.clock().astimezone(UTC).isoformat(timespec="milliseconds")
        with self._transaction() as database:
            database.execute(
                "INSERT INTO runs VALUES (NULL, ?, ?, ?, ?)", (at, kind, subject, record)
            )

    def runs(self, kind: str) -> list[tuple[str, str]]:
        """(subject, record) of every run of `kind`, oldest first."""
        with self._lock:
            rows = self.database.execute(
                "SELECT subject, record FROM runs WHERE kind = ? ORDER BY id", (kind,)
            ).fetchall()
        return [(str(subject), str(record)) for subject, record in rows]

    def close(self) -> None:
        self.database.close()

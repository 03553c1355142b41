# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Per-principal rate limits: sliding window counters, kept in a dict.

Authenticated callers are limited by principal; refused credentials by client address,
which slows down guessing. Key management has its own, stricter limit. A refusal is a
429 with `Retry-After`: the seconds until the window lets the caller in again.

The counters are `limits`' sliding window counter (the previous window's count, weighted
by how much of it the sliding window still covers, plus the current one's), and `limits`
parses the rates ("50/second"); but its in-memory storage starts a timer thread about
every 10 ms to expire keys, which under load cost the gateway about a tenth of its
throughput, and its async storage starts a task as often and would make every check a
coroutine. `SlidingWindows` expires keys as it meets them, and sweeps stale ones at most
once a `SWEEP_SECONDS`, inline: no thread, no task. It is called from the event loop only.

Shedding load (`runbook run shed-load`): while `<data_dir>/limits-override.json`
(`{"rate_limit": "5/second", "until": "<ISO time>"}`) exists and has not expired, its
rate replaces the per-principal default. The file is looked at once a second at most, by
the first request after that second (a clock read per request otherwise), so a change
takes effect within about a second without a restart; an unreadable file is ignored.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import datetime
from pathlib import Path

from limits import RateLimitItem, parse

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
SWEEP_SECONDS = 60.0


class SlidingWindows:
    """Sliding window counters per key, expired lazily (see the module's docstring)."""

    def __init__(self) -> None:
        # key -> [window length (s), window number, previous count, current count]
        self._windows: dict[str, list[float]] = {}
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._windows)

    def hit(self, item: RateLimitItem, who: str, now: float) -> float | None:
        """Count one request by `who` at `now` (monotonic seconds): None if allowed,
        else the seconds until one would be."""
        if now >= self._next_sweep:
            self._sweep(now)
        length, limit = float(item.get_expiry()), item.amount
        number, into = divmod(now, length)
        key = item.key_for(who)
        previous = current = 0.0
        if (window := self._windows.get(key)) is not None:
            if window[1] == number:
                previous, current = window[2], window[3]
            elif window[1] == number - 1:
                previous = window[3]
        covered = 1.0 - into / length  # share of the previous window still inside
        if previous * covered + current < limit:
            self._windows[key] = [length, number, previous, current + 1]
            return None
        self._windows[key] = [length, number, previous, current]
        if current >= limit:  # wait into the next window, until this one weighs less
            return length - into + length * (1.0 - limit / current)
        return length * (1.0 - (limit - current) / previous) - into

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP_SECONDS
        stale = [key for key, w in self._windows.items() if w[1] < now // w[0] - 1]
        for key in stale:
            del self._windows[key]


MAX_OVERRIDE_BYTES = 4096  # a real override is ~80 bytes; never parse a huge file per request


class OverrideError(ValueError):
    """The override file is not `{"rate_limit": "<limit>", "until": "<ISO time>"}`."""


def read_override(path: Path) -> tuple[RateLimitItem, float] | None:
    """The override's limit and when it ends (a Unix time), or None without a file."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_OVERRIDE_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(raw) > MAX_OVERRIDE_BYTES:
        raise OverrideError(f"{path}: over {MAX_OVERRIDE_BYTES} bytes")
    try:
        data = json.loads(raw)
        until = datetime.fromisoformat(data["until"])
        if until.tzinfo is None:
            raise ValueError("until has no time zone")
        return parse(data["rate_limit"]), until.timestamp()
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise OverrideError(f"{path}: {error!r}"[:300]) from None


class RateLimits:
    def __init__(self, default: str, strict: str, override: Path | None = None) -> None:
        self.default, self.strict = parse(default), parse(strict)
        self.configured = self.default
        self.windows = SlidingWindows()
        self.override, self._next_check = override, 0.0
        self._read: tuple[tuple[int, int], tuple[RateLimitItem, float] | None] | None = None

    def refresh(self, now: float) -> None:
        """Apply the override file as it is now (read again only when it was replaced)."""
        self._next_check = now + CHECK_SECONDS
        try:
            found = self.override.stat() if self.override else None
        except OSError:
            found = None
        if self.override is None or found is None:
            self.default, self._read = self.configured, None
            return
        version = (found.st_mtime_ns, found.st_ino)
        if self._read is None or self._read[0] != version:
            try:
                self._read = version, read_override(self.override)
            except Exception as error:  # a bad file must never turn requests into 500s
                log.warning("rate limit override ignored: %s", error)
                self._read = version, None
        override = self._read[1]
        active = override is not None and time.time() < override[1]
        self.default = override[0] if override and active else self.configured

    def retry_after(self, who: str, strict: bool = False) -> int | None:
        """Count one request by `who`; None if allowed, else seconds to wait."""
        now = time.monotonic()
        if self.override is not None and now >= self._next_check:
            self.refresh(now)
        item: RateLimitItem = self.strict if strict else self.default
        wait = self.windows.hit(item, who, now)
        return None if wait is None else max(1, math.ceil(wait))

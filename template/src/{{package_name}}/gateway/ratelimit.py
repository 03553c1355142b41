"""Per-principal rate limits, with the `limits` library (sliding window counters).

Authenticated callers are limited by principal; refused credentials by client address,
which slows down guessing. Key management has its own, stricter limit. A refusal is a
429 with `Retry-After`: the seconds until the window lets the caller in again.

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
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0


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
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
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
        if self.override is not None and (now := time.monotonic()) >= self._next_check:
            self.refresh(now)
        item: RateLimitItem = self.strict if strict else self.default
        if self.limiter.hit(item, who):
            return None
        reset = self.limiter.get_window_stats(item, who).reset_time
        return max(1, math.ceil(reset - time.time()))

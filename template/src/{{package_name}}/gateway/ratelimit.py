"""Per-principal rate limits, with the `limits` library (sliding window counters).

Authenticated callers are limited by principal; refused credentials by client address,
which slows down guessing. Key management has its own, stricter limit. A refusal is a
429 with `Retry-After`: the seconds until the window lets the caller in again.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter


class RateLimits:
    def __init__(self, default: str, strict: str) -> None:
        self.default, self.strict = parse(default), parse(strict)
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    def retry_after(self, who: str, strict: bool = False) -> int | None:
        """Count one request by `who`; None if allowed, else seconds to wait."""
        item: RateLimitItem = self.strict if strict else self.default
        if self.limiter.hit(item, who):
            return None
        reset = self.limiter.get_window_stats(item, who).reset_time
        return max(1, math.ceil(reset - time.time()))

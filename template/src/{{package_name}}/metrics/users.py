# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Concurrent users: distinct principals with a request in flight, counted apart from
the requests because a user is a principal, not a route, and the count is over a window
(`/metrics`: the last `USERS_WINDOW` seconds; the sampler: its interval).
"""

from __future__ import annotations

import time

from .latency import Clock

USERS_WINDOW = 60.0  # seconds: the window of the `gateway_concurrent_users` gauge


class ConcurrentUsers:
    """Distinct principals with a request in flight at some moment of a window.

    A request is in flight from the moment its credential is authenticated until its
    response is ready (refusals included: a principal refused with 403 or 429 is a user
    asking too). Over the window `[since, now]`, a principal counts once if it has a
    request in flight now, or had one that ended at or after `since`. Anonymous callers
    and failed authentications are not users and never count. Memory: one entry per
    principal seen recently; entries older than `keep` seconds are dropped.
    """

    def __init__(self, keep: float = USERS_WINDOW, clock: Clock = time.monotonic) -> None:
        self.keep, self.clock = keep, clock
        self._in_flight: dict[str, int] = {}
        self._ended: dict[str, float] = {}  # principal -> when its last request ended
        self._prune_at = 1024

    def enter(self, principal: str) -> None:
        in_flight = self._in_flight
        in_flight[principal] = in_flight.get(principal, 0) + 1

    def leave(self, principal: str) -> None:
        left = self._in_flight[principal] - 1
        if left:
            self._in_flight[principal] = left
            return
        del self._in_flight[principal]
        now = self._ended[principal] = self.clock()
        if len(self._ended) >= self._prune_at:  # amortised: many principals, no reader
            self._prune(now)
            self._prune_at = max(1024, 2 * len(self._ended))

    def count(self, since: float) -> int:
        """Distinct principals with a request in flight at some moment since `since`
        (a reading of `clock`)."""
        self._prune(self.clock())
        recent = {principal for principal, ended in self._ended.items() if ended >= since}
        return len(recent.union(self._in_flight))

    def _prune(self, now: float) -> None:
        horizon = now - self.keep
        for principal in [p for p, ended in self._ended.items() if ended < horizon]:
            del self._ended[principal]

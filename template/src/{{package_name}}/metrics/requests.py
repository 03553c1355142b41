# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Requests answered by the gateway, per route: what `/metrics` shows by route and
status, and what the sampler reads per interval (requests, 5xx errors, p99).

The gateway's endpoint keeps its route's `RouteStats`, so answering a request costs a
few counter updates and no lookup.
"""

from __future__ import annotations

from .latency import Histogram, Interval


class RouteStats:
    """One route's answers by status and its latency histogram; every answer also
    counts in the gateway's interval (`Requests`)."""

    __slots__ = ("histogram", "requests", "statuses")

    def __init__(self, requests: Requests) -> None:
        self.requests = requests
        self.statuses: dict[int, int] = {}
        self.histogram = Histogram()

    def observe(self, status: int, seconds: float) -> None:
        statuses = self.statuses
        statuses[status] = statuses.get(status, 0) + 1
        self.histogram.observe(seconds)
        requests = self.requests
        requests.interval.add(seconds)
        if status >= 500:
            requests.errors += 1


class Requests:
    """Requests answered by the gateway's routes."""

    def __init__(self) -> None:
        self.routes: dict[str, RouteStats] = {}
        self.interval = Interval()
        self.errors = 0  # 5xx answers in the current interval

    def route(self, path: str) -> RouteStats:
        """The stats of a route; the endpoint keeps them, so no lookup per request."""
        return self.routes.setdefault(path, RouteStats(self))

    def drain(self) -> tuple[int, int, float | None]:
        """(requests, errors, p99 in ms) of the interval; the next one starts."""
        count, _, p99 = self.interval.drain()
        errors, self.errors = self.errors, 0
        return count, errors, p99

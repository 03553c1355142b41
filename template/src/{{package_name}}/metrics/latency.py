# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Latency figures shared by the request and the cell measurements.

A latency is recorded twice on the hot path, cheaply: in a cumulative `Histogram` for
`/metrics`, and in the current `Interval` for the sampler, which needs each interval's
p99 (`p99_ms`) and must not keep every latency of a busy interval to get it.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections.abc import Callable

Clock = Callable[[], float]  # a reading in seconds (time.monotonic, time.time, a test's)
# Prometheus `le` bounds in seconds (+Inf is implied): fine at the low end, where an
# in-process gateway answers.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RESERVOIR = 20_000  # latencies kept per interval for its p99; beyond, a uniform sample


class Histogram:
    """Cumulative latencies in the `BUCKETS`, for `/metrics`."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.count, self.total = 0, 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(BUCKETS, seconds)] += 1  # le: bound >= seconds
        self.count += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus' buckets: (le, observations <= le), ending with +Inf."""
        running, rows = 0, []
        for bound, count in zip((*map(str, BUCKETS), "+Inf"), self.buckets, strict=True):
            running += count
            rows.append((bound, float(running)))
        return rows


class Interval:
    """The current interval's count, total time and latencies, for the sampler; at most
    `RESERVOIR` latencies are kept, each one of the interval equally likely."""

    __slots__ = ("count", "kept", "seconds")

    def __init__(self) -> None:
        self.count, self.seconds = 0, 0.0
        self.kept: list[float] = []

    def add(self, seconds: float) -> None:
        self.count += 1
        self.seconds += seconds
        if len(self.kept) < RESERVOIR:
            self.kept.append(seconds)
        else:  # reservoir sampling (Vitter's algorithm R)
            slot = random.randrange(self.count)
            if slot < RESERVOIR:
                self.kept[slot] = seconds

    def drain(self) -> tuple[int, float, float | None]:
        """(count, seconds, p99 in ms or None) of the interval; the next one starts."""
        count, seconds, kept = self.count, self.seconds, self.kept
        self.count, self.seconds, self.kept = 0, 0.0, []
        return count, seconds, p99_ms(kept)


def p99_ms(latencies: list[float]) -> float | None:
    """The 99th percentile (nearest rank) in milliseconds; None without latencies."""
    if not latencies:
        return None
    ordered = sorted(latencies)
    return round(ordered[math.ceil(0.99 * len(ordered)) - 1] * 1000, 3)

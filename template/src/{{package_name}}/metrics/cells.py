# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Per cell: handler latency, messages handled and in flight, and queue depth.

Measured by a bus middleware, not by the cells: a cell's code does not know it is
measured, and a cell moved to a worker is measured the same way; its queue depth then
comes from the transport (`CellMetrics.depth_provider`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..core.bus import CallNext
from ..core.cells import Registry
from ..core.messages import Event, Message
from .latency import Histogram, Interval

log = logging.getLogger(__name__)

DEPTHS_TIMEOUT = 2.0  # seconds a queue-depth provider may take before it is skipped

# Queue depths of cells on workers, by cell name: a plain or an async function.
DepthProvider = Callable[[], Mapping[str, int] | Awaitable[Mapping[str, int]]]


class CellStats:
    """One cell's handler latencies and messages in flight in this process."""

    __slots__ = ("histogram", "in_flight", "interval")

    def __init__(self) -> None:
        self.histogram, self.interval, self.in_flight = Histogram(), Interval(), 0

    def record(self, seconds: float) -> None:
        self.histogram.observe(seconds)
        self.interval.add(seconds)


class CellMetrics:
    """Per cell, measured by a bus middleware (`middleware`): each command and query is
    timed from dispatch to result, against the cell that handles it, and counted in
    flight meanwhile. The time is wall time, calls the handler awaits included (another
    cell, the sandbox, the events it publishes and their subscribers), so it is the
    latency callers see, and busy time can exceed the interval when messages overlap.
    Events themselves are not timed (their time is inside the publishing handler's), nor
    messages of no cell (the gateway's admin commands, the sandbox's peripheries).

    Queue depth: for a cell in this process, its messages in flight here; for a cell on
    a worker, what `depth_provider` reports (the transport's inbox), when it is set and
    names the cell: a function, plain or async, returning {cell: depth}.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.cells = {cell.name: CellStats() for cell in registry}
        self.depth_provider: DepthProvider | None = None
        self._of: dict[type[Message], CellStats | None] = {}

    def stats_of(self, message_type: type[Message]) -> CellStats | None:
        """The stats a message type counts in (None: not timed), cached per type."""
        try:
            return self._of[message_type]
        except KeyError:
            pass
        stats = None
        if not issubclass(message_type, Event):
            try:
                stats = self.cells.get(self.registry.owner_of(message_type).name)
            except KeyError:  # not a cell's message
                stats = None
        self._of[message_type] = stats
        return stats

    async def middleware(self, message: Message, call_next: CallNext) -> Any:
        stats = self.stats_of(type(message))
        if stats is None:
            return await call_next(message)
        stats.in_flight += 1
        started = time.perf_counter()
        try:
            return await call_next(message)
        finally:
            stats.in_flight -= 1
            stats.record(time.perf_counter() - started)

    async def queue_depths(self) -> dict[str, int]:
        """Every cell's queue depth; a failing or slow provider is logged and skipped,
        leaving the in-process counts."""
        depths = {name: stats.in_flight for name, stats in self.cells.items()}
        provider = self.depth_provider
        if provider is None:
            return depths
        try:
            reported = provider()
            if inspect.isawaitable(reported):
                reported = await asyncio.wait_for(reported, DEPTHS_TIMEOUT)
            depths.update({str(k): int(v) for k, v in reported.items() if k in depths})
        except Exception:
            log.warning("the queue-depth provider failed; in-process counts used", exc_info=True)
        return depths

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The recorded series: one `core.series.Sample` per interval, the figures `triggers
check` judges, appended to `Settings.series_path` in the background.

A plain file rather than a time-series server, so that a trigger can be judged offline,
in tests and on a copy from production (`triggers check --series FILE`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from ..core.series import CellSample, Sample, append
from .collection import Metrics
from .latency import Clock

log = logging.getLogger(__name__)

MIB = 1024 * 1024


class Sampler:
    """Every `seconds`, appends one `Sample` of the interval just ended to `path`; at
    `stop`, the last (shorter) interval too, so every answer is in exactly one sample.

    It drains the intervals of `metrics` (so one sampler per `Metrics`). A failing
    sample (a full disk, a broken provider) is logged and the next interval is tried:
    recording must never take the service down.
    """

    def __init__(
        self,
        metrics: Metrics,
        path: Path,
        seconds: float,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
    ) -> None:
        self.metrics, self.path, self.seconds = metrics, path, seconds
        self.clock, self.wall = clock, wall
        self._task: asyncio.Task[None] | None = None
        self._cpu = metrics.process.meter()
        self._started = clock()

    def start(self) -> None:
        """Begin the first interval now, and record in the background."""
        self.begin()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="metrics-sampler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self._record()

    async def _run(self) -> None:
        try:
            await self.metrics.context.refresh()  # measured once at start, then reused
        except Exception:
            log.exception("the context size could not be measured")
        deadline = self._started
        while True:
            deadline += self.seconds
            await asyncio.sleep(max(0.0, deadline - self.clock()))
            await self._record()

    async def _record(self) -> None:
        try:
            append(self.path, await self.take())
        except Exception:
            log.exception("a metrics sample failed; the next interval is tried")

    def begin(self) -> None:
        """Start an interval now: what happened before is not in it."""
        self.metrics.requests.drain()
        for stats in self.metrics.cells.cells.values():
            stats.interval.drain()
        self._cpu.percent()
        self._started = self.clock()

    async def take(self) -> Sample:
        """The interval since the previous `take` (or `begin`), which ends it."""
        metrics = self.metrics
        await metrics.refresh()  # may wait on a depth provider: the interval ends after
        now, since = self.clock(), self._started
        self._started = now
        requests, errors, p99 = metrics.requests.drain()
        cells = {}
        for name, stats in metrics.cells.cells.items():
            count, busy, cell_p99 = stats.interval.drain()
            depth = metrics.depths.get(name, stats.in_flight)
            cells[name] = CellSample(round(busy, 6), count, cell_p99, depth)
        return Sample(
            t=round(self.wall(), 3),
            interval_seconds=round(now - since, 3),
            cpu_percent=self._cpu.percent(),
            memory_mb=round(metrics.process.memory_bytes() / MIB, 3),
            concurrent_users=metrics.users.count(since),
            requests=requests,
            errors=errors,
            p99_ms=p99,
            context_mb=round((metrics.context.bytes or 0) / MIB, 6),
            cells=cells,
        )

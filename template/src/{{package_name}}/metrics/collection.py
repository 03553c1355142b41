# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`Metrics`: every measurement of one process, and the Prometheus collector that shows
them at `/metrics`.

The collector assembles the metric families when scraped, from the plain counters the
hot path updates; what the hot path does not read (queue depths, context size) is read
by `refresh` first.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from ..core.cells import Registry
from .cells import CellMetrics
from .context import ContextSize
from .latency import Clock
from .process import ProcessStats
from .requests import Requests
from .users import USERS_WINDOW, ConcurrentUsers


class Metrics:
    """Everything measured in one process; a Prometheus collector. Call `refresh` (async)
    before collecting: it reads what the hot path does not (queue depths, context size).
    """

    def __init__(
        self,
        registry: Registry,
        root: Path,
        role: str = "gateway",
        keep_users: float = USERS_WINDOW,
        clock: Clock = time.monotonic,
    ) -> None:
        self.clock = clock
        self.requests = Requests()
        self.users = ConcurrentUsers(max(keep_users, USERS_WINDOW), clock)
        self.cells = CellMetrics(registry)
        self.process = ProcessStats(role)
        self.context = ContextSize(root)
        self.depths: dict[str, int] = {}
        self._scrape_cpu = self.process.meter()

    async def refresh(self) -> None:
        self.depths = await self.cells.queue_depths()
        await self.context.refresh()

    def collect(self) -> Iterator[Metric]:
        yield from self._requests()
        yield from self._process()
        yield from self._cells()
        if self.context.bytes is not None:
            yield GaugeMetricFamily(
                "repo_context_bytes",
                "Bytes of code and context a model reads: *.py, *.md, *.yml, *.toml, *.json "
                "under tests, docs and src (but template-owned internals), blueprint.yml, "
                "README.md; the figure of the context gate (genops check context).",
                value=self.context.bytes,
            )

    def _requests(self) -> Iterator[Metric]:
        answered = CounterMetricFamily(
            "gateway_requests",
            "Requests answered, by route and status.",
            labels=["route", "status"],
        )
        latency = HistogramMetricFamily(
            "gateway_request_seconds", "Time to answer, by route.", labels=["route"]
        )
        for path, route in self.requests.routes.items():
            for status, count in route.statuses.items():
                answered.add_metric([path, str(status)], count)
            histogram = route.histogram
            latency.add_metric([path], histogram.cumulative(), histogram.total)
        users = self.users.count(self.clock() - USERS_WINDOW)
        yield answered
        yield latency
        yield GaugeMetricFamily(
            "gateway_concurrent_users",
            f"Distinct principals with a request in flight in the last {USERS_WINDOW:g} s.",
            value=users,
        )

    def _process(self) -> Iterator[Metric]:
        labels, values = ["pid", "role"], [str(self.process.pid), self.process.role]
        figures = (
            (GaugeMetricFamily, "process_cpu_percent", self._scrape_cpu.percent(),
             "CPU since the previous scrape, in % of the CPUs the process may use."),
            (CounterMetricFamily, "process_cpu_seconds", self._scrape_cpu.seconds(),
             "CPU seconds used, user and system."),
            (GaugeMetricFamily, "process_cpu_limit", self.process.cpus,
             "CPUs the process may use: the cgroup quota, else its CPU affinity."),
            (GaugeMetricFamily, "process_resident_memory_bytes", self.process.memory_bytes(),
             "Resident set size."),
        )  # fmt: skip
        for family, name, value, documentation in figures:
            metric = family(name, documentation, labels=labels)
            metric.add_metric(values, value)
            yield metric

    def _cells(self) -> Iterator[Metric]:
        latency = HistogramMetricFamily(
            "cell_handler_seconds", "Time to handle a command or query, by cell.", labels=["cell"]
        )
        depth = GaugeMetricFamily(
            "cell_queue_depth", "Messages waiting or in progress, by cell.", labels=["cell"]
        )
        for name, stats in self.cells.cells.items():
            latency.add_metric([name], stats.histogram.cumulative(), stats.histogram.total)
            depth.add_metric([name], self.depths.get(name, stats.in_flight))
        yield latency
        yield depth

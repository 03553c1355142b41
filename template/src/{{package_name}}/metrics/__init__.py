# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""What the service measures about itself, for `/metrics` and for the triggers.

One set of measurements, two readers:

- `GET /metrics` (the gateway, capability `ops.metrics`) shows cumulative counters,
  histograms and gauges in Prometheus' format: `Metrics.collect` is a custom collector,
  so figures are assembled when scraped, never per request;
- the `Sampler` appends one `core.series.Sample` per interval (`Settings.sample_seconds`)
  to `Settings.series_path`: the series `triggers check` judges.

The hot path (a request, a bus message) only updates plain counters, lists and dicts
on the event loop's thread: no lock, no psutil, no I/O. What is measured, and where:

- requests per route and status, and their latency (a histogram; each interval's p99
  from a bounded, uniform sample of that interval's latencies): `requests.py`, on the
  figures of `latency.py`;
- concurrent users: distinct principals with a request in flight (`users.py`);
- per cell, by a bus middleware: handler latency, messages handled, messages in flight;
  and the queue depth (`CellMetrics.depth_provider` for cells on workers): `cells.py`;
- the process: CPU as a percentage of the CPUs it may use (the cgroup quota, else its
  CPU affinity) and resident memory, labelled by pid and role: `process.py`;
- the repository's context size: what a maintainer (or a model) has to read:
  `context.py`.

`collection.py` holds them all (`Metrics`, the collector); `sampler.py` records the
series. The names other modules use are re-exported here.
"""

from .cells import CellMetrics, CellStats, DepthProvider
from .collection import Metrics
from .context import ContextSize, measure_context
from .latency import BUCKETS, RESERVOIR, Clock, Histogram, Interval, p99_ms
from .process import (
    CpuMeter,
    ProcessStats,
    available_cpus,
    cgroup_cpu_limit,
    parse_cfs,
    parse_cpu_max,
)
from .requests import Requests, RouteStats
from .sampler import Sampler
from .users import USERS_WINDOW, ConcurrentUsers

__all__ = [
    "BUCKETS",
    "RESERVOIR",
    "USERS_WINDOW",
    "CellMetrics",
    "CellStats",
    "Clock",
    "ConcurrentUsers",
    "ContextSize",
    "CpuMeter",
    "DepthProvider",
    "Histogram",
    "Interval",
    "Metrics",
    "ProcessStats",
    "Requests",
    "RouteStats",
    "Sampler",
    "available_cpus",
    "cgroup_cpu_limit",
    "measure_context",
    "p99_ms",
    "parse_cfs",
    "parse_cpu_max",
]

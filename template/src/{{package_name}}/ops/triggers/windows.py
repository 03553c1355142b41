# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Windows: what the samples of a stretch of time amount to.

A trigger is judged over a window, never on one sample. This module cuts the window
out of the series, says how much of it the samples cover (a window covered less than
`COVERAGE` is "no data", never a firing), and reduces the window's samples to what a
trigger compares with its threshold: a value (a mean weighted by intervals or requests,
an error-budget burn rate) and the in-process cell behind the load, which a firing names.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from ...core.series import Sample
from .thresholds import Thresholds

COVERAGE = 0.9  # share of a window the samples must cover before it is judged


@dataclass(frozen=True)
class Window:
    minutes: float
    samples: tuple[Sample, ...]
    coverage: float  # share of the window the samples' intervals cover, 0-1


def window(samples: Sequence[Sample], now: float, minutes: float) -> Window:
    """The samples of the `minutes` before `now`, and how much of that time they cover.

    A sample covers the interval that ends at its `t`. The interval being measured at
    `now` (at most one sampling period since the last sample) is not counted missing.
    """
    start = now - minutes * 60
    inside = tuple(s for s in samples if start < s.t <= now)
    covered = sum(max(0.0, s.t - max(s.t - s.interval_seconds, start)) for s in inside)
    pending = min(now - inside[-1].t, inside[-1].interval_seconds) if inside else 0.0
    span = minutes * 60 - pending
    return Window(minutes, inside, min(1.0, covered / span) if span > 0 else 0.0)


def mean(samples: Sequence[Sample], figure: Callable[[Sample], float]) -> float | None:
    weight = sum(s.interval_seconds for s in samples)
    if weight <= 0:
        return None
    return sum(figure(s) * s.interval_seconds for s in samples) / weight


def mean_cpu(samples: Sequence[Sample], limits: Thresholds) -> float | None:
    return mean(samples, lambda s: s.cpu_percent)


def mean_users(samples: Sequence[Sample], limits: Thresholds) -> float | None:
    return mean(samples, lambda s: s.concurrent_users)


def p99_estimate(samples: Sequence[Sample], limits: Thresholds) -> float | None:
    answered = [(s.p99_ms, s.requests) for s in samples if s.p99_ms is not None and s.requests]
    total = sum(requests for _, requests in answered)
    return sum(p99 * requests for p99, requests in answered) / total if total else None


def burn_rate(samples: Sequence[Sample], limits: Thresholds) -> float | None:
    requests = sum(s.requests for s in samples)
    if not requests:
        return None
    return sum(s.errors for s in samples) / requests / limits.error_ratio


# ---- which cell the load comes from --------------------------------------------------

Pick = Callable[[Sequence[Sample], Collection[str]], tuple[str, str] | None]


def largest_share(figure: Callable[[Any], float], what: str) -> Pick:
    def pick(samples: Sequence[Sample], candidates: Collection[str]) -> tuple[str, str] | None:
        totals: dict[str, float] = {}
        for sample in samples:
            for name, cell in sample.cells.items():
                totals[name] = totals.get(name, 0.0) + figure(cell)
        everything = sum(totals.values())
        ranked = [(v, n) for n, v in totals.items() if n in candidates and v > 0]
        if not ranked or everything <= 0:
            return None
        value, name = max(ranked)
        return name, f"{name} {what} ({value / everything:.0%}) over the long window"

    return pick


def worst_p99(samples: Sequence[Sample], candidates: Collection[str]) -> tuple[str, str] | None:
    weighted: dict[str, list[float]] = {}
    for sample in samples:
        for name, cell in sample.cells.items():
            if cell.p99_ms is not None and cell.requests and name in candidates:
                sums = weighted.setdefault(name, [0.0, 0.0])
                sums[0] += cell.p99_ms * cell.requests
                sums[1] += cell.requests
    if not weighted:
        return None
    p99, name = max((sums[0] / sums[1], name) for name, sums in weighted.items())
    return name, f"{name} had the worst p99 of the cells ({p99:.0f} ms) over the long window"

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The recorded metrics series: one JSON object per sampling interval, one line each.

The running service appends a `Sample` every `sample_seconds` (15 by default) to
`var/metrics/series.jsonl`; `triggers check` reads it back. Plain JSON Lines, so a
recording can be copied, trimmed with `tail` or written by hand for a test. A line is:

    {"t": 1700000000.0, "interval_seconds": 15.0, "cpu_percent": 31.5,
     "memory_mb": 182.0, "concurrent_users": 12, "requests": 940, "errors": 0,
     "p99_ms": 41.0, "context_mb": 0.6,
     "cells": {"notes": {"busy_seconds": 3.1, "requests": 940, "p99_ms": 38.0,
                         "queue_depth": 0}}}

`t` is the end of the interval (unix seconds). Lines are appended in time order, each
with one `write`, so a reader never sees half of a line from a live writer; a writer
killed mid-line leaves a damaged line, which `read` skips and counts (and `append`
starts the next sample on a fresh line). Reading only the recent past (`since`) reads
the file backwards, so a series of months costs no more than the windows it is judged on.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .private import PRIVATE_FILE, private_folder, tighten

BLOCK = 64 * 1024


@dataclass(frozen=True)
class CellSample:
    """What one cell did during the interval."""

    busy_seconds: float = 0.0  # time spent in its handlers
    requests: int = 0  # messages handled
    p99_ms: float | None = None  # None: it handled nothing
    queue_depth: int = 0  # messages waiting for it (workers)


@dataclass(frozen=True)
class Sample:
    """The service during one interval ending at `t`."""

    t: float
    interval_seconds: float = 15.0
    cpu_percent: float = 0.0  # of the CPUs (or the quota) the process may use, 0-100
    memory_mb: float = 0.0  # resident set size
    concurrent_users: int = 0  # distinct principals with a request in flight
    requests: int = 0  # answered in the interval
    errors: int = 0  # 5xx answers in the interval
    p99_ms: float | None = None  # None: no requests
    context_mb: float = 0.0  # size of the repository's code/context
    cells: dict[str, CellSample] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sample:
        """A sample from one decoded line; missing figures take their defaults (an older
        writer), unknown keys are ignored (a newer one). Raises ValueError or TypeError
        when a figure is not a number."""
        cells = data.get("cells") or {}
        if not isinstance(cells, Mapping):
            raise TypeError("cells must be an object")
        return cls(
            t=_number(data["t"]),
            interval_seconds=_number(data.get("interval_seconds", 15.0)),
            cpu_percent=_number(data.get("cpu_percent", 0.0)),
            memory_mb=_number(data.get("memory_mb", 0.0)),
            concurrent_users=int(_number(data.get("concurrent_users", 0))),
            requests=int(_number(data.get("requests", 0))),
            errors=int(_number(data.get("errors", 0))),
            p99_ms=_optional(data.get("p99_ms")),
            context_mb=_number(data.get("context_mb", 0.0)),
            cells={str(name): _cell(figures) for name, figures in cells.items()},
        )


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return float(value)


def _optional(value: Any) -> float | None:
    return None if value is None else _number(value)


def _cell(figures: Any) -> CellSample:
    if not isinstance(figures, Mapping):
        raise TypeError("a cell's figures must be an object")
    return CellSample(
        busy_seconds=_number(figures.get("busy_seconds", 0.0)),
        requests=int(_number(figures.get("requests", 0))),
        p99_ms=_optional(figures.get("p99_ms")),
        queue_depth=int(_number(figures.get("queue_depth", 0))),
    )


def encode(sample: Sample) -> bytes:
    """One line of the series, newline included."""
    text = json.dumps(sample.to_json(), separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n"


def append(path: Path, sample: Sample) -> None:
    """Add one sample to the series at `path` (created with its folder if missing)."""
    private_folder(path.parent)
    line = encode(sample)
    descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    tighten(path, PRIVATE_FILE)  # a file an older version made looser
    try:
        size = os.fstat(descriptor).st_size
        if size:
            os.lseek(descriptor, size - 1, os.SEEK_SET)
            if os.read(descriptor, 1) != b"\n":  # a writer died mid-line: start afresh
                line = b"\n" + line
        os.write(descriptor, line)  # O_APPEND: one write lands whole at the end
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class Series:
    """The samples read from a file, oldest first, and how many lines were damaged."""

    samples: tuple[Sample, ...]
    damaged: int = 0


def _decode(line: bytes) -> Sample | None:
    try:
        data = json.loads(line)
        return Sample.from_json(data) if isinstance(data, dict) else None
    except (ValueError, TypeError, KeyError):
        return None


def _lines_since(handle: Any, since: float) -> Iterator[bytes]:
    """The file's lines from (at least) the first one stamped at or after `since`,
    read backwards in blocks so that the old part of a long series is never parsed."""
    position = handle.seek(0, os.SEEK_END)
    tail = b""
    while position > 0:
        step = min(BLOCK, position)
        position -= step
        handle.seek(position)
        tail = handle.read(step) + tail
        # Whole lines start after the first newline (or at 0 once the start is reached).
        start = 0 if position == 0 else tail.find(b"\n") + 1
        if start == 0 and position > 0:
            continue  # no newline yet: one very long line, read on
        whole = tail[start:].split(b"\n", 1)[0]
        first = _decode(whole)
        if first is not None and first.t < since:
            break
    start = 0 if position == 0 else tail.find(b"\n") + 1
    yield from tail[start:].split(b"\n")


def last(path: Path) -> Sample | None:
    """The most recent sample at `path`, reading only the end of the file."""
    with path.open("rb") as handle:
        lines = list(_lines_since(handle, math.inf))
    for line in reversed(lines):
        sample = _decode(line)
        if sample is not None:
            return sample
    return None


def read(path: Path, since: float | None = None) -> Series:
    """The samples at `path` (those with `t >= since`, if given), oldest first.

    Blank lines are ignored; a line that is not a sample (the last line of a writer
    that was killed, say) is skipped and counted in `damaged`.
    """
    with path.open("rb") as handle:
        lines = handle.read().split(b"\n") if since is None else _lines_since(handle, since)
        samples, damaged = [], 0
        for line in lines:
            if not line.strip():
                continue
            sample = _decode(line)
            if sample is None:
                damaged += 1
            elif since is None or sample.t >= since:
                samples.append(sample)
    samples.sort(key=lambda sample: sample.t)
    return Series(tuple(samples), damaged)

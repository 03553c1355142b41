# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The process: its CPU use, as a share of the CPUs it may use, and its memory.

"The CPUs it may use" is the cgroup quota when there is one (a container, a systemd
slice), else its CPU affinity: a process limited to 2 CPUs on a 64-CPU host at 100% is
saturated, and `os.cpu_count()` would call it 3%. Reading cgroups (v2 `cpu.max`, v1
`cpu.cfs_*`) is the bulk of this module. psutil is only called when a reader asks
(a scrape, a sample), never on the hot path.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

from .latency import Clock

CGROUP_ROOT = Path("/sys/fs/cgroup")


def parse_cpu_max(text: str) -> float | None:
    """cgroup v2 `cpu.max` (`<quota> <period>` in µs, or `max <period>`): the CPUs it
    allows, None when unlimited."""
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    quota, period = float(fields[0]), float(fields[1]) if len(fields) > 1 else 100_000.0
    return quota / period if quota > 0 and period > 0 else None


def parse_cfs(quota: str, period: str) -> float | None:
    """cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`: the CPUs they allow, None
    when unlimited (quota -1)."""
    allowed, length = int(quota.strip()), int(period.strip())
    return allowed / length if allowed > 0 and length > 0 else None


def _cgroup_paths(membership: Path) -> dict[str, str]:
    """/proc/self/cgroup as {controller: path}; the v2 line's controller is ''."""
    paths: dict[str, str] = {}
    for line in membership.read_text(encoding="utf-8").splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            paths[controller] = path
    return paths


def _chain(base: Path, path: str) -> list[Path]:
    """The folder of cgroup `path` under `base` and every folder above it up to `base`
    (a quota anywhere above applies too); only `base` when `path` is not visible there,
    as in a container that sees its own cgroup as the root."""
    folder = base / path.strip("/")
    if not folder.is_dir():
        return [base]
    chain = [folder]
    while folder != base and folder.parent != folder:
        folder = folder.parent
        chain.append(folder)
    return chain


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def cgroup_cpu_limit(
    root: Path = CGROUP_ROOT, membership: Path = Path("/proc/self/cgroup")
) -> float | None:
    """The CPUs this process's cgroup may use (the smallest quota on its path to the
    root), or None: no quota, or no cgroup filesystem. v2 (`cpu.max`) when `root` is
    the unified hierarchy, else v1 (`cpu.cfs_quota_us` / `cpu.cfs_period_us`)."""
    try:
        paths = _cgroup_paths(membership)
    except (OSError, ValueError):
        paths = {}
    limits: list[float | None] = []
    if (root / "cgroup.controllers").exists():
        for folder in _chain(root, paths.get("", "/")):
            text = _read(folder / "cpu.max")
            limits.append(parse_cpu_max(text) if text else None)
    else:
        mounts = [root / name for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu")]
        mount = next((folder for folder in mounts if folder.is_dir()), None)
        for folder in _chain(mount, paths.get("cpu", "/")) if mount else []:
            quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
            limits.append(parse_cfs(quota, period) if quota and period else None)
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def available_cpus(quota: float | None = None) -> float:
    """The CPUs this process may use: its CPU affinity, capped by a cgroup quota."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = os.cpu_count() or 1
    return min(float(affinity), quota) if quota else float(affinity)


class CpuMeter:
    """A process's CPU use since the previous reading, in % of the CPUs it may use
    (0-100). Each reader has its own meter, so readers do not reset each other."""

    def __init__(self, process: psutil.Process, cpus: float, clock: Clock = time.monotonic):
        self.process, self.cpus, self.clock = process, cpus, clock
        self._last = (self.seconds(), clock())

    def seconds(self) -> float:
        """CPU seconds the process has used (user and system, children excluded)."""
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def percent(self) -> float:
        used, now = self.seconds(), self.clock()
        (before, then), self._last = self._last, (used, now)
        if now <= then:
            return 0.0
        share = 100.0 * (used - before) / ((now - then) * self.cpus)
        return round(min(100.0, max(0.0, share)), 3)


class ProcessStats:
    """This process: its role (`gateway`, or `worker:<cell>`), CPUs and memory."""

    def __init__(self, role: str, cpus: float | None = None) -> None:
        self.role, self.process = role, psutil.Process()
        self.pid = self.process.pid
        self.cpus = cpus or available_cpus(cgroup_cpu_limit())

    def meter(self) -> CpuMeter:
        return CpuMeter(self.process, self.cpus)

    def memory_bytes(self) -> int:
        return int(self.process.memory_info().rss)

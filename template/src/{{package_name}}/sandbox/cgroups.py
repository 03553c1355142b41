# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Per-task cgroups: the memory and process limits that hold across many processes, and
the list of every process a task started (so none survives it).

Per-process rlimits do not bound a fork-and-allocate attack; a cgroup does. Where the
process may create cgroups (root, or a delegated cgroup v2 subtree) each task gets one;
where it may not, `available()` says so and the runner reports it with every result.
cgroup v1 (separate `memory` and `pids` hierarchies) and v2 (unified) are both handled.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "cellforge-sandbox"


def _v2() -> bool:
    return (ROOT / "cgroup.controllers").exists()


def _bases() -> list[Path]:
    if _v2():
        return [ROOT / PARENT]
    return [ROOT / "memory" / PARENT, ROOT / "pids" / PARENT]


def sweep_stale() -> None:
    """Remove the task cgroups of processes that are gone (a crash, or parked slots that
    died with their service): each is named after the pid that made it."""
    for base in _bases():
        for group in base.glob("task-*"):
            owner = group.name.split("-")[1]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                with contextlib.suppress(OSError):  # not empty: something still runs
                    group.rmdir()


def available() -> bool:
    """Can this process make a cgroup per task? (Also sweeps stale ones away.)"""
    try:
        for base in _bases():
            base.mkdir(exist_ok=True)
            probe = base / f"probe-{os.getpid()}"
            probe.mkdir()
            probe.rmdir()
        if _v2():
            (ROOT / PARENT / "cgroup.subtree_control").write_text("+memory +pids")
        sweep_stale()
        return True
    except OSError:
        return False


class TaskGroup:
    """One task's cgroup(s): created with limits, joined by the task's first process,
    emptied (every process killed) and removed afterwards."""

    def __init__(self, memory_bytes: int, processes: int) -> None:
        name = f"task-{os.getpid()}-{secrets.token_hex(4)}"
        self.paths = [base / name for base in _bases()]
        for path in self.paths:
            path.mkdir()
        if _v2():
            (self.paths[0] / "memory.max").write_text(str(memory_bytes))
            (self.paths[0] / "memory.swap.max").write_text("0")
            (self.paths[0] / "pids.max").write_text(str(processes))
        else:
            memory, pids = self.paths
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            (pids / "pids.max").write_text(str(processes))

    @property
    def procs_files(self) -> list[str]:
        return [str(path / "cgroup.procs") for path in self.paths]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.paths:
            with contextlib.suppress(OSError):
                found |= {int(pid) for pid in (path / "cgroup.procs").read_text().split()}
        return found

    def hit_memory_limit(self) -> bool:
        try:
            if _v2():
                events = (self.paths[0] / "memory.events").read_text().split()
                return int(events[events.index("oom_kill") + 1]) > 0
            return int((self.paths[0] / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False

    def kill_all(self, wait: bool = True) -> None:
        """SIGKILL every process in the cgroup; with `wait`, until it is empty."""
        for _ in range(2000):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if not wait:
                return
            time.sleep(0.0005)

    def remove(self) -> None:
        self.kill_all()
        for path in self.paths:
            for _ in range(2000):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy until the killed processes are gone
                    time.sleep(0.0005)

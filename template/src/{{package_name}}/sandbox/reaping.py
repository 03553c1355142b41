# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""No zombies, no orphans: what a finished task leaves behind is killed and reaped.

The service becomes a child subreaper, so the orphans of its tasks (bwrap's inner
process, anything a task forked) become its children rather than pid 1's, which in many
containers never reaps them. A task's process tree is killed as soon as its result is
known (`kill_tree`); the rest of the teardown (emptying and removing its cgroup, reaping
what is left) runs in the janitor thread, off the caller's path (`JANITOR.settle()`
waits for it). Leftovers are told apart from the service's other children by name (the
backends' helpers) or by a sandbox uid (`uids.py`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import cgroups
from .uids import FIRST_UID, PERSISTENT_UID, UIDS

PR_SET_CHILD_SUBREAPER = 36
HELPERS = {"bwrap", "unshare"}  # the processes a sandbox backend forks of its own


def become_subreaper() -> None:
    """Orphans of our tasks become our children instead of pid 1's (which, in many
    containers, never reaps them), so the runner can reap them: no zombies left."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


running: set[int] = set()  # the tasks' own processes, reaped by their Popen objects
spawning = threading.Lock()  # a new task is in `running` before anyone looks for leftovers


def leftovers() -> list[int]:
    """Our children that a task left behind (bwrap's inner process, or any process of a
    sandbox uid), never another part of the service's, nor a task still running."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in running:
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") :]
            if int(rest.split()[2]) != me:
                continue
            uid = entry.stat().st_uid
            if name in HELPERS or PERSISTENT_UID <= uid < FIRST_UID + UIDS:
                found.append(int(entry.name))
    return found


def reap_orphans(timeout: float = 0.5) -> None:
    """Kill and reap the leftovers re-parented to us (we are a subreaper), waiting a
    little for those still on their way (bwrap's inner process exits after its outer)."""
    deadline = time.monotonic() + timeout
    while True:
        with spawning:
            found = leftovers()
            for pid in found:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        if not found or time.monotonic() > deadline:
            return
        time.sleep(0.001)


class Janitor:
    """Tears finished tasks down off the caller's path: empties and removes their
    cgroups and reaps leftovers. `settle()` waits until it has caught up."""

    def __init__(self) -> None:
        self.work: queue.Queue[Callable[[], None]] = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            job = self.work.get()
            try:
                job()
            finally:
                self.work.task_done()

    def settle(self) -> None:
        self.work.join()


JANITOR = Janitor()


def kill_tree(process: subprocess.Popen[bytes], group: cgroups.TaskGroup | None) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if group is not None:
        group.kill_all(wait=False)

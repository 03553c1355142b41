# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""A warm pool of pre-started sandboxes for `code.run`: start-up cost paid ahead.

Each worker is a sandbox (same backend, limits, cgroup and seccomp filter as a cold
task: `Sandbox.start` starts it) whose Python has already started and waits for one
request on stdin: a line with two lengths, then the source and the task's stdin. It runs
that one task and exits; a background thread starts its replacement. A worker is never
reused, so nothing a task leaves behind (files, modules, processes) can reach the next.
"""

from __future__ import annotations

import queue
import threading
import weakref
from typing import TYPE_CHECKING

from ..core.periphery import SandboxResult
from .backends import PYTHON
from .task import Task

if TYPE_CHECKING:  # the sandbox owns its pool: only its type is needed here
    from .runner import Sandbox

# Runs inside the sandbox: read one request, make its stdin the task's stdin, run it.
LOADER = """
import os, sys
_head = sys.stdin.buffer.readline().split()
_source = sys.stdin.buffer.read(int(_head[0])).decode()
_data = sys.stdin.buffer.read(int(_head[1]))
if _data:
    with open(".stdin", "wb") as _file:
        _file.write(_data)
    _fd = os.open(".stdin", os.O_RDONLY)
    os.unlink(".stdin")
else:
    _fd = os.open(os.devnull, os.O_RDONLY)
os.dup2(_fd, 0)
os.close(_fd)
sys.stdin = open(0, encoding="utf-8", closefd=False)
del os, sys, _head, _data, _fd
exec(compile(_source, "<string>", "exec"), {"__name__": "__main__"})
"""


_pools: weakref.WeakSet[WarmPool] = weakref.WeakSet()


def idle_pids() -> set[int]:
    """The processes of every pool's waiting workers and slots in this process."""
    return set().union(*(pool.idle_pids() for pool in list(_pools)))


class WarmPool:
    """`stage="python"`: workers whose sandbox and Python are up (the warm pool).
    `stage="cgroup"`: slots, parked before anything of the task has started, that have
    only joined their cgroup; the runner's cold path uses them."""

    def __init__(self, sandbox: Sandbox, size: int = 2, stage: str = "python") -> None:
        self.sandbox, self.size, self.gated = sandbox, size, stage == "cgroup"
        self.ready: queue.Queue[Task] = queue.Queue()
        self._wanted = threading.Semaphore(0)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        _pools.add(self)
        # One long-lived thread starts every worker: bwrap's --die-with-parent is tied to
        # the thread that started it, so that thread must outlive the workers.
        self._filler = threading.Thread(target=self._fill, daemon=True)
        self._started = False

    def warm_up(self) -> None:
        """Start the workers (the first `run` does it, so an idle service starts none)."""
        if not self._started:
            self._started = True
            for _ in range(self.size):
                self._wanted.release()
            self._filler.start()

    def _fill(self) -> None:
        while True:
            self._wanted.acquire()
            if self._closed.is_set():
                return
            with self._lock:  # so that `idle_pids` never misses one being started
                task = self.sandbox.start([PYTHON, "-I", "-S", "-c", LOADER], gated=self.gated)
                if isinstance(task, Task):
                    self.ready.put(task)

    def idle_pids(self) -> set[int]:
        """The processes of workers waiting for a task (they are expected to exist)."""
        with self._lock, self.ready.mutex:
            return {task.process.pid for task in self.ready.queue}

    def run(self, source: str, stdin: bytes = b"") -> SandboxResult:
        if self.sandbox.backend is None:
            return SandboxResult("denied", "none", reason="strict isolation is unavailable")
        self.warm_up()
        task = self.ready.get()
        self._wanted.release()  # start the replacement while this one runs
        code = source.encode()
        go = b"go\n" if self.gated else b""
        return task.finish(go + b"%d %d\n" % (len(code), len(stdin)) + code + stdin)

    def close(self) -> None:
        self._closed.set()
        if self._started:
            self._wanted.release()
            self._filler.join()
        while not self.ready.empty():
            self.ready.get().discard()

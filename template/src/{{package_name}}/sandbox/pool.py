"""A warm pool of pre-started sandboxes for `code.run`: start-up cost paid ahead.

Each worker is a sandbox (same backend, limits and cgroup as a cold task) whose Python
has already started and waits for one request on stdin: the source and the task's
stdin, as JSON. It runs that one task and exits; a background thread starts its
replacement. A worker is never reused, so nothing a task leaves behind (files, modules,
processes) can reach the next one.
"""

from __future__ import annotations

import json
import queue
import threading

from ..core.periphery import SandboxResult
from .backends import PYTHON
from .runner import Sandbox, Task

# Runs inside the sandbox: read one request, make its stdin the task's stdin, run it.
LOADER = """
import json, os, sys
_request = json.loads(sys.stdin.buffer.read())
with open(".stdin", "wb") as _file:
    _file.write(_request["stdin"].encode("latin-1"))
_fd = os.open(".stdin", os.O_RDONLY)
os.unlink(".stdin")
os.dup2(_fd, 0)
os.close(_fd)
sys.stdin = open(0, encoding="utf-8", closefd=False)
_source = _request["source"]
del json, os, sys, _request, _file, _fd
exec(compile(_source, "<string>", "exec"), {"__name__": "__main__"})
"""


class WarmPool:
    def __init__(self, sandbox: Sandbox, size: int = 2) -> None:
        self.sandbox, self.size = sandbox, size
        self.ready: queue.Queue[Task] = queue.Queue()
        self._wanted = threading.Semaphore(0)
        self._closed = threading.Event()
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
            task = self.sandbox.start([PYTHON, "-I", "-S", "-c", LOADER])
            if isinstance(task, Task):
                self.ready.put(task)

    def run(self, source: str, stdin: bytes = b"") -> SandboxResult:
        if self.sandbox.backend is None:
            return SandboxResult("denied", "none", reason="strict isolation is unavailable")
        self.warm_up()
        task = self.ready.get()
        self._wanted.release()  # start the replacement while this one runs
        request = {"source": source, "stdin": stdin.decode("latin-1")}
        return task.finish(json.dumps(request).encode())

    def close(self) -> None:
        self._closed.set()
        if self._started:
            self._wanted.release()
            self._filler.join()
        while not self.ready.empty():
            self.ready.get().discard()

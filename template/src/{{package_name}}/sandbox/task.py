# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""A started sandboxed process: fed its input, collected within its limits, torn down.

`Sandbox.start` makes one (a cold task, or a slot of the warm pool waiting for "go");
`finish` feeds stdin, reads the output (`streams.py`), kills the process tree and names
how it ended in a typed result: the limit that stopped it, if any. The rest of the
teardown goes to the janitor (`reaping.py`).
"""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.periphery import SandboxResult
from . import cgroups
from .limits import Limits
from .reaping import JANITOR, kill_tree, reap_orphans, running
from .streams import Outcome, communicate

log = logging.getLogger(__name__)  # through core/logs.py's configuration, as every logger


@dataclass
class Task:
    """A started sandboxed process, waiting for its input."""

    backend: str
    process: subprocess.Popen[bytes]
    limits: Limits
    group: cgroups.TaskGroup | None
    scratch: Path | None
    filtered: bool = False  # started under the seccomp filter

    def finish(self, stdin: bytes) -> SandboxResult:
        """Feed stdin and collect output within the limits; the process tree is killed
        before this returns, its teardown finishes in the janitor."""
        started = time.monotonic()  # wall time counts from here, not from a warm start
        try:
            outcome = communicate(self.process, stdin, self.limits, started)
        finally:
            code = self._stop()
        memory_hit = self.group.hit_memory_limit() if self.group is not None else False
        JANITOR.work.put(self._tidy)
        details = {
            "cgroup": "yes" if self.group is not None else "no",
            "seccomp": "filter" if self.filtered else "none",
        }
        result = _result(self.backend, code, outcome, memory_hit, started, details)
        fields = {"sandbox_status": result.status, "sandbox_limit": result.limit}
        log.info("sandbox task %s on %s", result.status, result.backend, extra=fields)
        return result

    def discard(self) -> None:
        """Kill an unused task (a pool worker that was never given work)."""
        self._stop()
        JANITOR.work.put(self._tidy)

    def _stop(self) -> int:
        kill_tree(self.process, self.group)  # before reaping: its pid cannot be reused yet
        code = self.process.wait()
        running.discard(self.process.pid)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code

    def _tidy(self) -> None:
        if self.group is not None:
            self.group.remove()  # kills and waits for anything still in the cgroup
        reap_orphans()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _result(
    backend: str,
    code: int,
    outcome: Outcome,
    memory_hit: bool,
    started: float,
    details: dict[str, str],
) -> SandboxResult:
    signalled = -code if code < 0 else code - 128 if code > 128 else 0
    status, limit = "ok", None
    if outcome.timed_out:
        status, limit = "timeout", "wall"
    elif outcome.overflowed:
        status, limit = "killed", "output"
    elif signalled == signal.SIGXCPU:
        status, limit = "killed", "cpu"
    elif memory_hit or b"MemoryError" in outcome.stderr[-4096:]:
        status, limit = "killed", "memory"
    elif signalled == signal.SIGSYS:  # the seccomp filter's kill action
        status, limit = "killed", "seccomp"
    elif signalled in (signal.SIGKILL, signal.SIGXFSZ):
        status, limit = "killed", "signal"
    return SandboxResult(
        status,  # type: ignore[arg-type]
        backend,
        exit_code=code,
        stdout=outcome.stdout,
        stderr=outcome.stderr,
        truncated=outcome.overflowed,
        limit=limit,
        seconds=round(time.monotonic() - started, 4),
        details=details,
    )

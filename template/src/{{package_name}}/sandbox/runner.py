"""The sandbox runner: one task, one fresh sandbox, one typed result.

`Sandbox.run` starts the task through the backend in force (bwrap, else unshare, else
rlimits; `level: strict` accepts only bwrap and otherwise refuses every task), inside a
cgroup of its own where one can be made (memory and process limits that hold across
processes, and a list of every process it started). It feeds stdin, reads at most
`output_bytes` of output (more is truncated, flagged, and stops the task), kills the
whole tree at the wall time or at the end, and then (in the janitor thread, off the
caller's path; `settle()` waits for it) empties and removes the cgroup and reaps what
is left: no zombies, no orphans. The backend in force is named in every result, never
silently weaker, and so is the seccomp filter (`details["seccomp"]`): a bwrap task gets
a descriptor of its own on the filter program (`seccomp.py`), which bwrap installs.

Joining a cgroup costs about 10 ms on cgroup v1 after an idle spell (the kernel waits
for an RCU grace period), more than bwrap itself. So cold Python tasks take a *slot*
when one is ready: a parked shell that has already joined a fresh task cgroup, dropped
to the task's uid and set its rlimits, and waits for "go" before it execs the same
bwrap and Python a cold task would (see `pool.py`). The sandbox and everything the
task runs still start at dispatch.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import queue
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.periphery import SandboxResult
from . import cgroups, seccomp
from .backends import BACKENDS, ENVIRONMENT, PYTHON, Backend, Placement
from .limits import MIB, Limits, Policy

if TYPE_CHECKING:
    from .pool import WarmPool

PERSISTENT_UID = 60999
FIRST_UID = 61000
UIDS = 4000
_uids = itertools.count()


def task_uid(persistent: bool = False) -> int | None:
    """An unprivileged uid of the task's own when the service runs as root (the kernel
    ignores RLIMIT_NPROC for root); the service's own uid otherwise. Tasks on a
    persistent workspace share one uid, so that they can read what earlier ones wrote."""
    if os.geteuid() != 0:
        return None
    if persistent:
        return PERSISTENT_UID
    return FIRST_UID + (os.getpid() * 31 + next(_uids)) % UIDS


def choose(level: str, backends: Sequence[Backend] = BACKENDS) -> Backend | None:
    """The strongest available backend; None when `strict` and bwrap is missing."""
    for backend in backends:
        if backend.available():
            return backend
        if level == "strict":
            return None
    return None


SECCOMP_PROBE = "print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])"
PR_SET_CHILD_SUBREAPER = 36
HELPERS = {"bwrap", "unshare"}  # the processes a sandbox backend forks of its own


def become_subreaper() -> None:
    """Orphans of our tasks become our children instead of pid 1's (which, in many
    containers, never reaps them), so the runner can reap them: no zombies left."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


_started: set[int] = set()  # the tasks' own processes, reaped by their Popen objects
_spawning = threading.Lock()  # a new task is in `_started` before anyone looks for leftovers


def _leftovers() -> list[int]:
    """Our children that a task left behind (bwrap's inner process, or any process of a
    sandbox uid), never another part of the service's, nor a task still running."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in _started:
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
        with _spawning:
            leftovers = _leftovers()
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        if not leftovers or time.monotonic() > deadline:
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


@dataclass
class Outcome:
    stdout: bytes
    stderr: bytes
    timed_out: bool
    overflowed: bool


class Sandbox:
    def __init__(
        self,
        policy: Policy,
        backend: Backend | None = None,
        backends: Sequence[Backend] = BACKENDS,
        slots: int = 1,
    ) -> None:
        self.policy = policy
        self.backend = backend or choose(policy.level, backends)
        self.cgroups = cgroups.available()
        become_subreaper()
        self.slots: WarmPool | None = None
        if self.cgroups and self.backend is not None and slots > 0:
            from .pool import WarmPool

            self.slots = WarmPool(self, slots, stage="cgroup")

    @property
    def backend_name(self) -> str:
        return self.backend.name if self.backend else "none"

    def close(self) -> None:
        """Stop the parked slots and finish every teardown."""
        if self.slots is not None:
            self.slots.close()
            self.slots = None
        self.settle()

    def settle(self) -> None:
        """Wait until every finished task is fully torn down (cgroup removed, leftovers
        reaped); results are returned before that, as soon as the tree is killed."""
        JANITOR.settle()

    def doctor(self) -> dict[str, str]:
        """What isolation is in force, for `<cli> sandbox doctor` and the docs."""
        found = {b.name: "available" if b.available() else "missing" for b in BACKENDS}
        return {
            "level required": self.policy.level,
            "backend in force": self.backend_name,
            **{f"backend {name}": state for name, state in found.items()},
            "cgroup per task": "yes"
            if self.cgroups
            else "no (memory and process limits hold per process only)",
            "runs as": "an unprivileged uid per task" if os.geteuid() == 0 else "this user",
            "seccomp": self._seccomp_in_force(),
        }

    def _seccomp_in_force(self) -> str:
        """The filter as a task sees it: the kernel's own word (`Seccomp: 2` in
        /proc/self/status, a filter in force), not what the backend was asked for."""
        if self.backend is None or not self.backend.seccomp:
            return f"none (the {self.backend_name} backend installs no filter)"
        if seccomp.program() is None:
            return seccomp.summary()
        probe = self.run_python(SECCOMP_PROBE)
        mode = probe.stdout.decode(errors="replace").strip()
        if probe.status != "ok" or mode != "2":
            return f"NOT IN FORCE (a task saw seccomp mode {mode or probe.status!r})"
        return seccomp.summary()

    def run_python(
        self,
        source: str,
        stdin: bytes = b"",
        limits: Limits | None = None,
        workspace: Path | None = None,
        network: bool = False,
        args: Sequence[str] = (),
    ) -> SandboxResult:
        plain = (limits is None or limits == self.policy.limits) and not args
        if self.slots is not None and plain and workspace is None and not network:
            return self.slots.run(source, stdin)
        argv = [PYTHON, "-I", "-S", "-c", source, *args]
        return self.run(argv, stdin, limits, workspace, network)

    def run(
        self,
        argv: list[str],
        stdin: bytes = b"",
        limits: Limits | None = None,
        workspace: Path | None = None,
        network: bool = False,
    ) -> SandboxResult:
        task = self.start(argv, limits, workspace, network)
        if isinstance(task, SandboxResult):
            return task
        return task.finish(stdin)

    def start(
        self,
        argv: list[str],
        limits: Limits | None = None,
        workspace: Path | None = None,
        network: bool = False,
        gated: bool = False,
    ) -> Task | SandboxResult:
        """Start a task that waits for its stdin; `Task.finish` feeds it and collects.
        `gated`: join the cgroup, drop the uid and set the rlimits, then wait for a line
        on stdin before starting the sandbox itself (a slot: see the module's docstring)."""
        limits = limits or self.policy.limits
        if self.backend is None:
            return SandboxResult(
                "denied", "none", reason="strict isolation (bwrap) is required but missing"
            )
        uid = task_uid(persistent=workspace is not None)
        scratch = None
        if workspace is None and self.backend.name != "bwrap":
            workspace = scratch = Path(tempfile.mkdtemp(prefix="sandbox-"))
        if workspace is not None and uid is not None:
            os.chown(workspace, uid, uid)
        try:  # bwrap reads the filter from a descriptor of its own (see seccomp.py)
            program = seccomp.open_program() if self.backend.seccomp else None
        except OSError as error:  # fail closed: never run bwrap unfiltered by accident
            return SandboxResult("error", self.backend.name, reason=f"no seccomp filter: {error}")
        placement = Placement(uid, workspace, network, gated, program)
        command = self.backend.wrap(argv, limits, placement)
        group = None
        try:
            if self.cgroups:
                group = cgroups.TaskGroup(limits.memory_mb * MIB, limits.processes)
                # The task joins its cgroup before the first exec of the chain.
                joins = " && ".join(f"echo $$ > {shlex.quote(f)}" for f in group.procs_files)
                command = ["/bin/sh", "-c", f'{joins} && exec "$@"', "sandbox", *command]
            with _spawning:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=dict(ENVIRONMENT),
                    cwd=workspace or "/",
                    start_new_session=True,
                    pass_fds=() if program is None else (program,),
                )
                _started.add(process.pid)
        except OSError as error:
            if group is not None:
                group.remove()
            return SandboxResult("error", self.backend.name, reason=f"cannot start: {error}")
        finally:
            if program is not None:
                os.close(program)
        return Task(self.backend.name, process, limits, group, scratch, program is not None)


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
            outcome = _communicate(self.process, stdin, self.limits, started)
        finally:
            code = self._stop()
        memory_hit = self.group.hit_memory_limit() if self.group is not None else False
        JANITOR.work.put(self._tidy)
        details = {
            "cgroup": "yes" if self.group is not None else "no",
            "seccomp": "filter" if self.filtered else "none",
        }
        return _result(self.backend, code, outcome, memory_hit, started, details)

    def discard(self) -> None:
        """Kill an unused task (a pool worker that was never given work)."""
        self._stop()
        JANITOR.work.put(self._tidy)

    def _stop(self) -> int:
        _kill_tree(self.process, self.group)  # before reaping: its pid cannot be reused yet
        code = self.process.wait()
        _started.discard(self.process.pid)
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


JANITOR = Janitor()


def _communicate(
    process: subprocess.Popen[bytes], stdin: bytes, limits: Limits, started: float
) -> Outcome:
    assert process.stdin and process.stdout and process.stderr
    selector = selectors.DefaultSelector()
    streams = {process.stdout.fileno(): bytearray(), process.stderr.fileno(): bytearray()}
    for fd in streams:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    pending = memoryview(stdin)
    stdin_fd = process.stdin.fileno()
    if pending:
        os.set_blocking(stdin_fd, False)
        selector.register(stdin_fd, selectors.EVENT_WRITE)
    else:
        process.stdin.close()
    deadline = started + limits.wall_seconds
    timed_out = overflowed = False
    while selector.get_map():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for key, _ in selector.select(remaining):
            fd = key.fd
            if fd == stdin_fd:
                try:
                    written = os.write(fd, pending[:65536])
                except (BrokenPipeError, BlockingIOError):
                    written = len(pending)
                pending = pending[written:]
                if not pending:
                    selector.unregister(fd)
                    process.stdin.close()
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                selector.unregister(fd)
                continue
            streams[fd] += chunk
            if sum(map(len, streams.values())) > limits.output_bytes:
                overflowed = True
                break
        if overflowed:
            break
    selector.close()
    if not process.stdin.closed:
        process.stdin.close()
    out, err = streams[process.stdout.fileno()], streams[process.stderr.fileno()]
    if overflowed:  # keep the first output_bytes, stdout first
        out = out[: limits.output_bytes]
        err = err[: max(0, limits.output_bytes - len(out))]
    return Outcome(bytes(out), bytes(err), timed_out, overflowed)


def _kill_tree(process: subprocess.Popen[bytes], group: cgroups.TaskGroup | None) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if group is not None:
        group.kill_all(wait=False)


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

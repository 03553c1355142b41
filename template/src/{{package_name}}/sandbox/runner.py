# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
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

Here: choosing the backend and starting a task. A started task's input, output and end
are `task.py` and `streams.py`; its uid is `uids.py`; its teardown `reaping.py`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..core.periphery import SandboxResult
from . import cgroups, seccomp
from .backends import BACKENDS, ENVIRONMENT, PYTHON, Backend, Placement
from .limits import MIB, Limits, Policy
from .pool import WarmPool
from .reaping import JANITOR, become_subreaper, running, spawning
from .task import Task
from .uids import task_uid


def choose(level: str, backends: Sequence[Backend] = BACKENDS) -> Backend | None:
    """The strongest available backend; None when `strict` and bwrap is missing."""
    for backend in backends:
        if backend.available():
            return backend
        if level == "strict":
            return None
    return None


SECCOMP_PROBE = "print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])"


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
            with spawning:
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
                running.add(process.pid)
        except OSError as error:
            if group is not None:
                group.remove()
            return SandboxResult("error", self.backend.name, reason=f"cannot start: {error}")
        finally:
            if program is not None:
                os.close(program)
        return Task(self.backend.name, process, limits, group, scratch, program is not None)

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The three isolation backends, strongest first, and how each wraps a command.

- `bwrap`: every namespace unshared (user, pid, net, ipc, uts, cgroup, mount), no nested
  user namespaces, a new session, dies with its parent; a clean environment; read-only
  system directories; a size-limited tmpfs as the per-task workspace; an unprivileged uid;
  a seccomp filter (`seccomp.py`), read by bwrap from a descriptor the runner passes.
- `unshare`: new user, pid, net, ipc and uts namespaces (no network, no view of other
  processes), plus rlimits; the host's files stay visible as to any unprivileged user.
- `rlimits`: rlimits and an unprivileged uid only, for developer laptops.

Every backend starts from a clean environment (the sandbox's first process sees only
PATH and LANG) and, when the service runs as root, drops to an unprivileged uid before
anything else: the kernel ignores the process-count rlimit for root. Rlimits are set by
`prlimit` in the exec chain, never by `preexec_fn`, which is unsafe in a threaded server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .limits import MIB, Limits

PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
WORKSPACE = "/workspace"
NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl")


@dataclass(frozen=True)
class Placement:
    """Where a task runs: its uid, its workspace on the host (None: a private tmpfs,
    bwrap only) and whether it may use the network (web.fetch only)."""

    uid: int | None
    workspace: Path | None
    network: bool = False
    gated: bool = False  # wait for a line on stdin before starting the sandbox proper
    seccomp_fd: int | None = None  # the seccomp program, inherited by bwrap (bwrap only)


def drop_privileges(uid: int | None) -> list[str]:
    if uid is None:
        return []
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
    ]


def gate(placement: Placement) -> list[str]:
    """For a slot: everything up to here (cgroup, uid, rlimits) is done ahead of time;
    the sandbox itself starts when the runner writes "go"."""
    return ["/bin/sh", "-c", 'read -r _ && exec "$@"', "gate"] if placement.gated else []


def rlimits(limits: Limits, uid: int | None) -> list[str]:
    processes = limits.processes
    if uid is None:  # RLIMIT_NPROC counts all of the real uid's processes, not just ours
        processes += _processes_of(os.getuid())
    return [
        "prlimit",
        # SIGXCPU at the soft limit (reported as the cpu limit); SIGKILL a second later.
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
        f"--as={limits.memory_mb * MIB}",
        f"--nproc={processes}",
        f"--fsize={limits.file_size_mb * MIB}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def _processes_of(uid: int) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                count += entry.stat().st_uid == uid
    return count


class Backend(Protocol):
    name: str
    seccomp: bool  # installs the seccomp filter: the runner passes it `Placement.seccomp_fd`

    def available(self) -> bool: ...

    def wrap(self, argv: list[str], limits: Limits, placement: Placement) -> list[str]: ...


class Bwrap:
    name = "bwrap"
    seccomp = True

    def available(self) -> bool:
        return all(shutil.which(tool) for tool in ("bwrap", "prlimit", "setpriv"))

    def wrap(self, argv: list[str], limits: Limits, placement: Placement) -> list[str]:
        command = [
            *drop_privileges(placement.uid),
            *rlimits(limits, placement.uid),
            *gate(placement),
            "bwrap",
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            *[arg for name, value in ENVIRONMENT.items() for arg in ("--setenv", name, value)],
            "--setenv",
            "HOME",
            WORKSPACE,
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(limits.workspace_mb * MIB),
            "--tmpfs",
            "/tmp",
        ]
        if Path("/usr/lib64").exists():
            command += ["--symlink", "usr/lib64", "/lib64"]
        if not PYTHON.startswith("/usr/"):
            prefix = str(Path(sys.base_prefix).resolve())
            command += ["--ro-bind", prefix, prefix]
        if placement.workspace is None:
            command += ["--size", str(limits.workspace_mb * MIB), "--tmpfs", WORKSPACE]
        else:
            command += ["--bind", str(placement.workspace), WORKSPACE]
        if placement.network:
            command += ["--share-net"]
            for path in NETWORK_FILES:
                command += ["--ro-bind-try", path, path]
        if placement.seccomp_fd is not None:
            command += ["--seccomp", str(placement.seccomp_fd)]
        # Everything but the workspace and /tmp is read-only, the root included.
        return [*command, "--remount-ro", "/", "--chdir", WORKSPACE, *argv]


class Unshare:
    name = "unshare"
    seccomp = False

    def available(self) -> bool:
        return all(shutil.which(tool) for tool in ("unshare", "prlimit", "setpriv"))

    def wrap(self, argv: list[str], limits: Limits, placement: Placement) -> list[str]:
        namespaces = ["--user", "--pid", "--fork", "--kill-child", "--mount-proc"]
        namespaces += ["--ipc", "--uts", *([] if placement.network else ["--net"])]
        return [
            *drop_privileges(placement.uid),
            *rlimits(limits, placement.uid),
            *gate(placement),
            "unshare",
            *namespaces,
            "--",
            # unshare does not pass on a signal death (SIGXCPU: the cpu limit); a shell
            # turns it into the exit status 128 + signal, which it does pass on.
            "/bin/sh",
            "-c",
            '"$@"; exit $?',
            "task",
            *argv,
        ]


class Rlimits:
    name = "rlimits"
    seccomp = False

    def available(self) -> bool:
        return shutil.which("prlimit") is not None

    def wrap(self, argv: list[str], limits: Limits, placement: Placement) -> list[str]:
        uid = placement.uid
        return [*drop_privileges(uid), *rlimits(limits, uid), *gate(placement), *argv]


BACKENDS: tuple[Backend, ...] = (Bwrap(), Unshare(), Rlimits())

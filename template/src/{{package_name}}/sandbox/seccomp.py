# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The seccomp filter the bwrap backend installs: which file, how it is handed over, and
what it refuses here.

The filters are classic-BPF programs built with libseccomp from `seccomp_profile.py`
(`filters/<arch>.bpf`, and `filters/filters.json` with each refused call's number per
architecture); see that module for what is refused and why. bwrap reads one from a file
descriptor (`--seccomp FD`) and installs it on its init and, as the last step before
exec, on the task: everything bwrap does to set up runs before it, so the filter need
not allow bwrap's own calls. bwrap reads the descriptor to its end, so every task gets
a descriptor of its own (a shared one would share the read offset).

The runtime needs no libseccomp: the programs ship prebuilt. A machine with no filter
(neither x86_64 nor aarch64) runs bwrap without one, and says so in `sandbox doctor`
and in each result's `details["seccomp"]`.
"""

from __future__ import annotations

import json
import os
import platform
from functools import cache
from pathlib import Path
from typing import Any, TypedDict

FILTERS = Path(__file__).with_name("filters")
MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


class Call(TypedDict):
    nr: int  # the system call's number on this architecture
    action: str  # as in the profile: "errno", "kill" or "enosys"


def arch() -> str | None:
    """This machine's filter architecture; None when no filter is built for it."""
    return MACHINES.get(platform.machine().lower())


@cache
def manifest() -> dict[str, Any]:
    """Per architecture: the program's file, its size, the refused calls' numbers."""
    loaded: dict[str, Any] = json.loads((FILTERS / "filters.json").read_text(encoding="utf-8"))
    arches: dict[str, Any] = loaded["arches"]
    return arches


def refused() -> dict[str, Call]:
    """The calls refused on this machine, by name."""
    here = arch()
    if here is None:
        return {}
    calls: dict[str, Call] = manifest()[here]["refused"]
    return calls


def program() -> Path | None:
    here = arch()
    return FILTERS / f"{here}.bpf" if here is not None else None


def open_program() -> int | None:
    """A fresh descriptor on this machine's program, for one bwrap to read and close;
    the caller closes its own copy once the process has started."""
    path = program()
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC) if path is not None else None


def summary() -> str:
    """For `sandbox doctor`: what the filter refuses, or why there is none."""
    here = arch()
    if here is None:
        return f"none (no filter for {platform.machine()})"
    return f"filter ({len(refused())} syscalls denied, arch {here}; other ABIs killed)"

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The bwrap sandbox's seccomp profile: the system calls a task may not make.

Modelled on Docker's default profile, read for a process with no capabilities (which is
what a task is): every call Docker withholds from such a container is refused here too,
plus ptrace and process_vm_readv/writev (Docker allows them on recent kernels; here they
would let a task inspect bwrap's init) and io_uring (newer container runtimes refuse it).

Docker's profile is an allowlist; this one refuses by name and lets the rest through. A
task may run any program under /usr, and an allowlist breaks programs whenever glibc or
the kernel adopt a new call (clone3, faccessat2 and rseq each broke containers that way);
the calls that reach the kernel's riskiest code are the ones refused here. The cost, a
call added to a future kernel passes until it is listed, is written in docs/sandbox.md.

What a refused call does:
- `errno`: fails with EPERM, the answer an unprivileged process already expects, so that
  programs which probe for a feature (io_uring, userfaultfd, keyrings, perf, namespaces)
  fall back instead of crashing;
- `kill`: the whole task dies by SIGSYS. Only for calls that can succeed for the
  machine's own root alone (modules, kexec, reboot, swap, pivot_root): no program a task
  runs makes them except to attack or administer the machine, so nothing breaks and the
  attempt shows as a killed task;
- `enosys`: clone3, whose flags sit in memory a filter cannot read; glibc then falls back
  to clone, whose namespace flags are refused here.
A system call of another ABI (32-bit x86 or x32 on x86_64, 32-bit ARM on aarch64) kills
the task: nothing in the sandbox needs one, and each would bypass a per-ABI filter.

This module is data only. `tools/seccomp_filters.py` in the template repository builds
`filters/<arch>.bpf` from it with libseccomp, and a template test proves the shipped
files are what it builds; the runtime reads the files and never needs libseccomp.
"""

from __future__ import annotations

from typing import NamedTuple

ARCHES = ("x86_64", "aarch64")
"""The machines a filter is built for (`platform.machine()` names)."""


class Refusal(NamedTuple):
    action: str  # "errno" (EPERM), "kill" (the task, by SIGSYS) or "enosys"
    why: str
    allow_arg0: tuple[int, ...] = ()  # refused unless argument 0 is one of these
    arg0_bits: int = 0  # refused only when argument 0 has any of these bits
    arg0_equals: int | None = None  # refused only when argument 0 is this


PERSONALITY_DEFAULT, PERSONALITY_QUERY = 0x0, 0xFFFFFFFF
CLONE_NEW_NAMESPACES = 0x7E020000  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
AF_VSOCK = 40

_OTHERS = "reads, writes or inspects another process (bwrap's init included)"
_KEYRING = "the kernel's keyrings are not namespaced"
_MOUNTS = "changes mounts: the file system is bwrap's to set up, not the task's"
_OBSOLETE = "obsolete; needs privileges Docker withholds"
_ADMIN = "administers the machine; needs privileges Docker withholds"
_MACHINE = "loads code into, replaces or stops the kernel, or swaps: the machine's root only"

PROFILE: dict[str, Refusal] = {
    # Other processes.
    "ptrace": Refusal("errno", _OTHERS),
    "process_vm_readv": Refusal("errno", _OTHERS),
    "process_vm_writev": Refusal("errno", _OTHERS),
    "process_madvise": Refusal("errno", _OTHERS),
    "kcmp": Refusal("errno", _OTHERS),
    "pidfd_getfd": Refusal("errno", _OTHERS),
    # Kernel surfaces with a record of exploits.
    "keyctl": Refusal("errno", _KEYRING),
    "add_key": Refusal("errno", _KEYRING),
    "request_key": Refusal("errno", _KEYRING),
    "bpf": Refusal("errno", "loads programs into the kernel"),
    "perf_event_open": Refusal("errno", "performance counters: attack surface, side channels"),
    "userfaultfd": Refusal("errno", "stalls page faults at will, a staple of kernel exploits"),
    "io_uring_setup": Refusal("errno", "io_uring runs calls out of reach of this filter"),
    "io_uring_enter": Refusal("errno", "io_uring runs calls out of reach of this filter"),
    "io_uring_register": Refusal("errno", "io_uring runs calls out of reach of this filter"),
    "open_by_handle_at": Refusal("errno", "opens files by handle, past the mount namespace"),
    "lookup_dcookie": Refusal("errno", "kernel profiling; needs privileges Docker withholds"),
    "fanotify_init": Refusal("errno", "watches file systems; needs privileges Docker withholds"),
    "syslog": Refusal("errno", "reads the kernel log (addresses that defeat KASLR)"),
    # Namespaces and mounts.
    "unshare": Refusal("errno", "makes new namespaces: more kernel surface to attack"),
    "setns": Refusal("errno", "joins other namespaces"),
    "clone": Refusal(
        "errno", "refused with any new-namespace flag, like unshare", arg0_bits=CLONE_NEW_NAMESPACES
    ),
    "clone3": Refusal("enosys", "its flags are out of a filter's reach; glibc falls back to clone"),
    "mount": Refusal("errno", _MOUNTS),
    "umount": Refusal("errno", _MOUNTS),
    "umount2": Refusal("errno", _MOUNTS),
    "fsopen": Refusal("errno", _MOUNTS),
    "fsconfig": Refusal("errno", _MOUNTS),
    "fsmount": Refusal("errno", _MOUNTS),
    "fspick": Refusal("errno", _MOUNTS),
    "move_mount": Refusal("errno", _MOUNTS),
    "open_tree": Refusal("errno", _MOUNTS),
    "mount_setattr": Refusal("errno", _MOUNTS),
    "chroot": Refusal("errno", _MOUNTS),
    "quotactl": Refusal("errno", _ADMIN),
    "quotactl_fd": Refusal("errno", _ADMIN),
    # Execution domain: only the default and the query, as Docker allows without flags.
    "personality": Refusal(
        "errno",
        "execution domains change how the kernel treats a process",
        allow_arg0=(PERSONALITY_DEFAULT, PERSONALITY_QUERY),
    ),
    # A host socket family that no network namespace confines (VM hosts, hypervisors).
    "socket": Refusal("errno", "AF_VSOCK reaches the hypervisor", arg0_equals=AF_VSOCK),
    # The machine's administration.
    "acct": Refusal("errno", _ADMIN),
    "settimeofday": Refusal("errno", _ADMIN),
    "clock_settime": Refusal("errno", _ADMIN),
    "clock_adjtime": Refusal("errno", _ADMIN),
    "sethostname": Refusal("errno", _ADMIN),
    "setdomainname": Refusal("errno", _ADMIN),
    "vhangup": Refusal("errno", _ADMIN),
    "iopl": Refusal("errno", "raw hardware I/O ports"),
    "ioperm": Refusal("errno", "raw hardware I/O ports"),
    "uselib": Refusal("errno", _OBSOLETE),
    "ustat": Refusal("errno", _OBSOLETE),
    "sysfs": Refusal("errno", _OBSOLETE),
    "_sysctl": Refusal("errno", _OBSOLETE),
    "nfsservctl": Refusal("errno", _OBSOLETE),
    "create_module": Refusal("errno", _OBSOLETE),
    "get_kernel_syms": Refusal("errno", _OBSOLETE),
    "query_module": Refusal("errno", _OBSOLETE),
    # The machine's own root only: the task dies (see the module's docstring).
    "kexec_load": Refusal("kill", _MACHINE),
    "kexec_file_load": Refusal("kill", _MACHINE),
    "init_module": Refusal("kill", _MACHINE),
    "finit_module": Refusal("kill", _MACHINE),
    "delete_module": Refusal("kill", _MACHINE),
    "reboot": Refusal("kill", _MACHINE),
    "swapon": Refusal("kill", _MACHINE),
    "swapoff": Refusal("kill", _MACHINE),
    "pivot_root": Refusal("kill", "a container runtime's call, after unshare and mount"),
}

"""Build the bwrap sandbox's seccomp filters from its profile, with libseccomp.

    /usr/bin/python3 tools/seccomp_filters.py            # rewrite the shipped filters
    /usr/bin/python3 tools/seccomp_filters.py --out DIR  # build elsewhere (the template test)

Needs libseccomp's own Python bindings (Debian: `apt-get install python3-seccomp`), for
the system Python. The profile (`sandbox/seccomp_profile.py` of the generated package)
says which calls are refused and how; this script turns it into one classic-BPF program
per architecture with libseccomp, as bwrap's `--seccomp FD` wants it, and writes
`filters.json` beside them: the libseccomp version, and each refused call's number per
architecture (the runtime counts them for `sandbox doctor`; the escape suite probes them).

Each program checks the architecture first and kills the task on any other (libseccomp's
bad-architecture action), the x32 ABI on x86_64 included. The output depends only on the
profile and the libseccomp version, so a rebuild is byte-identical
(tests/test_seccomp_filters.py checks it).
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import runpy
import sys
import tempfile
from pathlib import Path
from typing import Any

import seccomp  # python3-seccomp, libseccomp's official bindings

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = ROOT / "template" / "src" / "{{package_name}}" / "sandbox"
PROFILE = SANDBOX / "seccomp_profile.py"
SHIPPED = SANDBOX / "filters"
ARCHES = {"x86_64": seccomp.Arch.X86_64, "aarch64": seccomp.Arch.AARCH64}
ACTIONS = {
    "errno": seccomp.ERRNO(errno.EPERM),
    "enosys": seccomp.ERRNO(errno.ENOSYS),
    "kill": seccomp.KILL_PROCESS,
}
LOW32 = 0xFFFFFFFF


def libseccomp_version() -> str:
    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]

    library = ctypes.CDLL("libseccomp.so.2")
    library.seccomp_version.restype = ctypes.POINTER(Version)
    found = library.seccomp_version().contents
    return f"{found.major}.{found.minor}.{found.micro}"


def conditions(refusal: Any) -> list[tuple[seccomp.Arg, ...]]:
    """One tuple of comparisons per rule; any rule that matches refuses the call."""
    if refusal.allow_arg0:
        # libseccomp 2.5 takes one comparison per argument in a rule, so "neither 0 nor
        # 0xffffffff" is spelled as its cover: any high bit set, or two neighbouring low
        # bits that differ (a 32-bit value that is neither all zeros nor all ones has a
        # set bit next to a clear one, going round).
        if tuple(sorted(refusal.allow_arg0)) != (0, LOW32):
            raise SystemExit("allow_arg0 supports exactly (0, 0xffffffff)")
        rules = [(seccomp.Arg(0, seccomp.GT, LOW32),)]
        for bit in range(32):
            pair = (1 << bit) | (1 << (bit + 1) % 32)
            rules.append((seccomp.Arg(0, seccomp.MASKED_EQ, pair, 1 << bit),))
        return rules
    if refusal.arg0_bits:
        bits = [1 << b for b in range(64) if refusal.arg0_bits >> b & 1]
        return [(seccomp.Arg(0, seccomp.MASKED_EQ, bit, bit),) for bit in bits]
    if refusal.arg0_equals is not None:
        return [(seccomp.Arg(0, seccomp.EQ, refusal.arg0_equals),)]
    return [()]


def build(arch: str, profile: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    target = ARCHES[arch]
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    rules.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    if not rules.exist_arch(target):  # built for another machine than this one
        rules.add_arch(target)
        rules.remove_arch(seccomp.Arch.NATIVE)
    refused, absent = {}, []
    for name, refusal in sorted(profile.items()):
        number = seccomp.resolve_syscall(target, name)
        if number < 0:  # not a system call on this architecture
            absent.append(name)
            continue
        for comparisons in conditions(refusal):
            rules.add_rule(ACTIONS[refusal.action], name, *comparisons)
        refused[name] = {"nr": number, "action": refusal.action}
    with tempfile.TemporaryFile() as program:
        rules.export_bpf(program)
        program.seek(0)
        data = program.read()
    return data, {
        "file": f"{arch}.bpf",
        "instructions": len(data) // 8,
        "refused": refused,
        "absent": absent,
    }


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--out", type=Path, default=SHIPPED, help="where to write")
    args = options.parse_args()
    if sys.byteorder != "little":  # the programs are written in this machine's order
        raise SystemExit("build on a little-endian machine (x86_64 and aarch64 both are)")
    profile = runpy.run_path(str(PROFILE))["PROFILE"]
    args.out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "built by": "tools/seccomp_filters.py",
        "libseccomp": libseccomp_version(),
        "arches": {},
    }
    for arch in ARCHES:
        data, facts = build(arch, profile)
        (args.out / f"{arch}.bpf").write_bytes(data)
        manifest["arches"][arch] = facts
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    (args.out / "filters.json").write_text(text, encoding="utf-8")
    print(f"wrote {', '.join(sorted(os.listdir(args.out)))} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

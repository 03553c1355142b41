"""The sandbox's seccomp filters are libseccomp's work, reproducibly.

The generated package ships prebuilt classic-BPF programs (`sandbox/filters/`) so that
projects need no libseccomp. This test rebuilds them from the profile with
`tools/seccomp_filters.py` and libseccomp's own Python bindings (Debian's
python3-seccomp, for /usr/bin/python3) and requires the shipped files to be identical,
byte for byte: a profile edit without a rebuild, or a hand-edited program, fails here.
Skipped where python3-seccomp is missing, unless CELLFORGE_REQUIRE_BWRAP is set (the
template's CI, which installs it with bubblewrap).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from .conftest import TEMPLATE

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = TEMPLATE / "tools" / "seccomp_filters.py"
SHIPPED = TEMPLATE / "template" / "src" / "{{package_name}}" / "sandbox" / "filters"
REBUILD = f"{SYSTEM_PYTHON} tools/seccomp_filters.py"


def has_bindings() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    found = subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True)
    return found.returncode == 0


pytestmark = pytest.mark.skipif(
    not has_bindings() and not os.environ.get("CELLFORGE_REQUIRE_BWRAP"),
    reason="libseccomp's Python bindings are missing (apt-get install python3-seccomp)",
)


def test_the_shipped_filters_are_what_the_script_builds(tmp_path: Path) -> None:
    built = subprocess.run(
        [SYSTEM_PYTHON, str(SCRIPT), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=TEMPLATE,
    )
    assert built.returncode == 0, built.stderr
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == sorted(path.name for path in SHIPPED.iterdir())
    assert names == ["aarch64.bpf", "filters.json", "x86_64.bpf"]
    for name in names:
        fresh, shipped = (tmp_path / name).read_bytes(), (SHIPPED / name).read_bytes()
        assert fresh == shipped, f"{name} differs from a fresh build: run `{REBUILD}`"


def test_each_program_refuses_the_profile_on_its_architecture() -> None:
    """libseccomp resolves the names per architecture: the numbers differ between
    x86_64 and aarch64, and calls that do not exist on one are recorded as absent."""
    manifest = json.loads((SHIPPED / "filters.json").read_text(encoding="utf-8"))
    x86, arm = manifest["arches"]["x86_64"], manifest["arches"]["aarch64"]
    assert x86["refused"]["ptrace"]["nr"] == 101 and arm["refused"]["ptrace"]["nr"] == 117
    assert "iopl" in x86["refused"] and "iopl" in arm["absent"]
    assert x86["refused"]["kexec_load"]["action"] == "kill"
    assert manifest["libseccomp"].count(".") == 2

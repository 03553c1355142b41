"""Refresh `locks/uv.lock`, the lock every generated project starts with.

Run it from the repository root after changing the dependencies in
`template/pyproject.toml.jinja`, and commit the result:

    uv run python locks/refresh.py            # lock the changed dependencies, keep other pins
    uv run python locks/refresh.py --upgrade  # move every package to its newest version

It renders a default project from this working tree (uncommitted edits included), runs
`uv lock` in it and stores the project's lock here. The render already starts from the
stored lock, so uv changes only what the new dependencies need; the copy task
(hooks/cellforge_hooks/lockfile.py) adapts the stored lock to each project's name and
Python. tests/test_lock.py fails while the stored lock lags the template.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import copier

ROOT = Path(__file__).resolve().parents[1]
STORED = ROOT / "locks" / "uv.lock"


def lock_default_project(folder: Path, upgrade: bool) -> Path:
    """Render the default project into `folder` and lock it; returns its uv.lock."""
    project = folder / "my-service"
    copier.run_copy(str(ROOT), project, defaults=True, unsafe=True, vcs_ref="HEAD", quiet=True)
    # The project's own settings, not this repository's virtual environment. The default
    # project asks for the oldest supported Python, so its (universal) lock covers them all.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    command = ["uv", "lock", *(["--upgrade"] if upgrade else [])]
    subprocess.run(command, cwd=project, env=env, check=True)
    return project / "uv.lock"


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--upgrade", action="store_true", help="newest version of everything")
    args = options.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cellforge-lock-") as scratch:
        fresh = lock_default_project(Path(scratch), args.upgrade)
        before = STORED.read_bytes() if STORED.exists() else b""
        if fresh.read_bytes() == before:
            print(f"{STORED.relative_to(ROOT)}: already up to date")
            return 0
        shutil.copyfile(fresh, STORED)
    print(f"{STORED.relative_to(ROOT)}: updated; commit it with the dependency change")
    return 0


if __name__ == "__main__":
    sys.exit(main())

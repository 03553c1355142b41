# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The build is reproducible and the lock file is honest.

The gate builds the wheel and the sdist twice, each time into a fresh folder, with
`SOURCE_DATE_EPOCH` set to the time of the last commit (a fixed epoch, 1980-01-01, when
there is no commit or no git), and compares the sha256 of each artefact. The first build
runs in the project; the second from a copy of its files (those git tracks or would
track; every file but caches and `.venv` without git) at another path, with fresh
modification times, started at least 2 seconds after the first one ended, so a build
path or the clock leaking into an artefact shows (a zip entry's time has 2-second
steps). It also checks `uv.lock`: present, every registry package pinned by hash, and in sync
with pyproject.toml (`uv lock --check`).

Everything runs with `--offline`: checking a lock that is in sync needs only the lock
and pyproject.toml, and the uv_build backend is built into uv, so no download happens.
A lock that is out of sync fails offline too (with a message about the cache rather
than "needs to be updated" when the new requirement was never downloaded).

Protects against: an artefact that cannot be rebuilt bit for bit from its commit (a
timestamp, a build path, a file order or a file git ignores leaking into it), so what
was reviewed is not provably what ships; a dependency change that did not update
`uv.lock`; a lock that installs whatever the index serves instead of the files that
were locked.

Fails when: the two builds differ, a build fails, `uv.lock` is missing, is not valid
TOML, is out of sync with pyproject.toml or has a registry package without hashes, or uv
is not installed.

Acknowledge a deliberate change: none; run `uv lock` after changing dependencies and
commit `uv.lock`. A build that embeds the time must take it from `SOURCE_DATE_EPOCH`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from ..core.git import NOT_FOUND, git
from . import Project, Verdict

GATE = "repro"
FIXED_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip (a wheel) can hold
ARTEFACTS = (".whl", ".tar.gz")
SPREAD = 2.0  # seconds between the end of the first build and the start of the second
NOT_COPIED = (".git", ".venv", "__pycache__", "*.pyc", ".*_cache", "dist", "build", "var")


def check(project: Project) -> Verdict:
    """Build; check the lock and copy the tree while the clock moves on; build the copy;
    compare. See the module docstring."""
    uv = shutil.which("uv")
    if uv is None:
        return Verdict(GATE, "fail", "uv not found on PATH: the repro gate needs it", "no build")
    epoch, source = source_date_epoch(project.root)
    with tempfile.TemporaryDirectory(prefix="repro-tree-") as elsewhere:
        first = build(uv, project.root, epoch)
        ended = time.monotonic()
        problems = lock_problems(uv, project.root)  # done while the clock moves on
        tree = export(project.root, Path(elsewhere) / (project.root.resolve().name or "tree"))
        time.sleep(max(0.0, ended + SPREAD - time.monotonic()))
        second = build(uv, tree, epoch)
    figure, differences = compare(first, second)
    problems += differences
    if problems:
        reason = problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
        return Verdict(GATE, "fail", reason, figure, tuple(problems))
    reason = (
        f"two builds with SOURCE_DATE_EPOCH={epoch} ({source}), {SPREAD:g} s and a folder"
        " apart, are identical; uv.lock ok"
    )
    return Verdict(GATE, "pass", reason, figure)


def lock_problems(uv: str, root: Path) -> list[str]:
    """What is wrong with uv.lock: missing, not hash-pinned, out of sync."""
    lock = root / "uv.lock"
    if not lock.is_file():
        return ["uv.lock is missing: run `uv lock` and commit it"]
    try:
        data = tomllib.loads(lock.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        return [f"uv.lock is not valid TOML ({error}): run `uv lock` and commit it"]
    problems = [
        f"uv.lock: {name} is not pinned by hash" for name in unpinned(data.get("package", []))
    ]
    done = subprocess.run(
        [uv, "lock", "--check", "--offline", "--project", str(root)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        why = (errors or done.stderr.strip().splitlines() or ["no output"])[0]
        problems.append(f"uv.lock is out of sync with pyproject.toml (uv lock --check): {why}")
    return problems


def unpinned(packages: list[dict[str, Any]]) -> list[str]:
    """Registry packages of the lock with no file, or a file without a hash."""
    found = []
    for package in packages:
        if "registry" not in package.get("source", {}):
            continue  # the project itself, a path or a git source: pinned otherwise
        files = ([package["sdist"]] if "sdist" in package else []) + package.get("wheels", [])
        if not files or any(not file.get("hash") for file in files):
            found.append(f"{package.get('name')} {package.get('version')}")
    return found


def source_date_epoch(root: Path) -> tuple[str, str]:
    """The last commit's time, or the fixed epoch; and where it came from."""
    done = git(root, "log", "-1", "--format=%ct")
    if done.returncode == NOT_FOUND:
        return FIXED_EPOCH, "git not found: a fixed epoch"
    stamp = done.stdout.strip()
    if done.ok and stamp.isdigit():
        return stamp, "the last commit"
    return FIXED_EPOCH, "no commit: a fixed epoch"


def export(root: Path, target: Path) -> Path:
    """A copy of the project's files at `target`, with fresh modification times: the
    files git tracks or would track (what a clean checkout of a commit holds), or
    without git every file but caches, `.venv` and build output."""
    names = _git_files(root)
    if names is None or "pyproject.toml" not in names:  # no git, or ignored by an outer repo
        ignore = shutil.ignore_patterns(*NOT_COPIED)
        shutil.copytree(root, target, ignore=ignore, symlinks=True, copy_function=shutil.copy)
        return target
    target.mkdir(parents=True)
    for name in names:
        source, copy = root / name, target / name
        if source.is_file() or source.is_symlink():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, copy, follow_symlinks=False)
    return target


def _git_files(root: Path) -> list[str] | None:
    """The files under `root` that git tracks or would track; None without git."""
    done = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if not done.ok:
        return None
    return sorted({name for name in os.fsdecode(done.data).split("\0") if name})


def build(uv: str, root: Path, epoch: str) -> dict[str, str] | str:
    """sha256 of each artefact by file name, or why the build failed."""
    environment = {**os.environ, "SOURCE_DATE_EPOCH": epoch}
    with tempfile.TemporaryDirectory(prefix="repro-") as folder:
        command = [uv, "build", "--wheel", "--sdist", "--offline", "--out-dir", folder, str(root)]
        done = subprocess.run(
            command, cwd=root, env=environment, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or ["no output"]
            return f"uv build failed: {lines[-1]}"
        return {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(Path(folder).iterdir())
            if path.name.endswith(ARTEFACTS)
        }


def compare(first: dict[str, str] | str, second: dict[str, str] | str) -> tuple[str, list[str]]:
    """The figure, and one line per artefact that differs between the two builds."""
    if isinstance(first, str) or isinstance(second, str):
        return "no build", [first if isinstance(first, str) else str(second)]
    kinds = {name: "wheel" if name.endswith(".whl") else "sdist" for name in first | second}
    if not first:
        return "no artefact", ["uv build produced no wheel or sdist"]
    differences = [
        f"{kinds[name]} {name} differs between two builds: "
        f"sha256 {first.get(name, 'missing')[:12]} != {second.get(name, 'missing')[:12]}"
        for name in sorted(first.keys() | second.keys())
        if first.get(name) != second.get(name)
    ]
    what = "+".join(sorted({kinds[name] for name in first}, reverse=True))
    if differences:
        differing = sorted({line.split()[0] for line in differences}, reverse=True)
        verb = "differs" if len(differing) == 1 else "differ"
        return f"{'+'.join(differing)} {verb} between builds", differences
    wheels_first = sorted(first, key=lambda name: kinds[name] != "wheel")
    digests = ", ".join(first[name][:8] for name in wheels_first)
    return f"{what} identical (sha256 {digests})", []

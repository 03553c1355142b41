"""The generated project that the service benchmarks measure.

It is rendered from the template's working tree (uncommitted edits included, through a
git snapshot) with the defaults, and synced by uv into its own venv, as a user would.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import copier

from bench.snapshot import git_snapshot

ROOT = Path(__file__).resolve().parents[1]
PROJECT, ENV_PREFIX = "bench-service", "BENCH_SERVICE_"  # package: bench_service


def project_env() -> dict[str, str]:
    """A user's shell in the project: uv, no outer venv, no stray service settings."""
    prefixes = ("VIRTUAL_ENV", "UV_", ENV_PREFIX)
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


def generate(work: Path) -> Path:
    """Render and sync the project under `work`; returns its folder."""
    template = git_snapshot(ROOT, work / "template")
    project = work / PROJECT
    copier.run_copy(
        str(template),
        project,
        data={"project_name": PROJECT},
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
    )
    subprocess.run(["uv", "sync", "--quiet"], cwd=project, check=True, env=project_env())
    return project

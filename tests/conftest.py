"""Render Cellforge in-process and run what a user would run in the generated project.

Renders call copier's API with `vcs_ref="HEAD"`, which includes uncommitted template
edits. Generated projects are synced by uv with the machine's shared uv cache, so the
packages are downloaded once per machine and each project still gets a fresh venv.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import copier
import pytest

from bench.snapshot import commit_all

TEMPLATE = Path(__file__).resolve().parents[1]
RENDER_TIMEOUT = 600


def find_python(version: str) -> str:
    """An interpreter for `version`: uv's own discovery first, then pyenv's installs."""
    found = subprocess.run(
        ["uv", "python", "find", "--no-python-downloads", version],
        capture_output=True,
        text=True,
    )
    if found.returncode == 0:
        return found.stdout.strip()
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"))
    if candidates:
        return candidates[-1]
    if os.environ.get("CI"):
        pytest.fail(f"no Python {version} on this machine; CI must provide every version")
    pytest.skip(f"no Python {version} on this machine")


def project_env(python_version: str) -> dict[str, str]:
    """The environment a user's shell would have in the project: uv, no outer venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    env.pop("PYTHONPATH", None)
    env["UV_PYTHON"] = find_python(python_version)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


def run(
    command: Sequence[str] | str,
    cwd: Path,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = RENDER_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        shell=isinstance(command, str),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        pytest.fail(
            f"`{command}` failed in {cwd} ({done.returncode}):\n{done.stdout[-6000:]}\n"
            f"{done.stderr[-4000:]}"
        )
    return done


# Files copied as they are, never rendered: the sandbox's prebuilt seccomp programs.
BINARY_SUFFIXES = {".bpf"}


def assert_hygienic(project: Path) -> None:
    """No Jinja left over and no template-only file names in a rendered project."""
    assert not list(project.rglob("__pycache__")), "the render left bytecode behind"
    assert_vendored_hooks_verbatim(project)
    for path in project.rglob("*"):
        skipped = (".venv", ".git", ".cellforge")  # .cellforge: checked verbatim above
        if any(part in path.parts for part in skipped) or not path.is_file():
            continue
        assert path.suffix != ".jinja", f"unrendered template file {path}"
        assert path.suffix != ".tmpl", f"unrendered skeleton file {path}"
        if path.suffix in BINARY_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8")
        for marker in ("{{", "{%", "${"):
            assert marker not in text, f"leftover {marker!r} in {path.relative_to(project)}"


def assert_vendored_hooks_verbatim(project: Path) -> None:
    """`.cellforge/` is this repository's `hooks/` (but the cell skeletons and the
    validators' Jinja extension, which only copier uses), copied byte for byte, and
    nothing else."""
    source = TEMPLATE / "hooks"
    vendored = project / ".cellforge"
    expected = {
        p.relative_to(source): p.read_bytes()
        for p in source.rglob("*")
        if p.is_file() and not {"__pycache__", "skeletons", "jinja_rules.py"} & set(p.parts)
    }
    found = {p.relative_to(vendored): p.read_bytes() for p in vendored.rglob("*") if p.is_file()}
    assert found == expected, "the vendored hooks differ from hooks/"


def render(destination: Path, **answers: Any) -> Path:
    copier.run_copy(
        str(TEMPLATE),
        destination,
        data=answers,
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
    )
    assert_hygienic(destination)
    return destination


def git_commit_all(project: Path) -> None:
    run(["git", "init", "-q", "-b", "main"], project)
    run(["git", "add", "-A"], project)
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    run(["git", *identity, "commit", "-qm", "init"], project)


def generate_committed(template: Path, destination: Path, ref: str, **answers: Any) -> Path:
    """Generate from a committed template version, sync its venv, commit it, install hooks."""
    copier.run_copy(
        str(template),
        destination,
        data=answers,
        defaults=True,
        unsafe=True,
        vcs_ref=ref,
        quiet=True,
    )
    env = project_env("3.11")
    run(["uv", "sync", "--locked", "--quiet"], destination, env)
    git_commit_all(destination)
    run(["uv", "run", "pre-commit", "install"], destination, env)
    return destination


def user_env() -> dict[str, str]:
    """A user's shell in the project (Python 3.11) with a git identity, so that the
    documented commands (`git commit -m ...`) run exactly as written."""
    env = project_env("3.11")
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"] = "Test"
        env[f"GIT_{role}_EMAIL"] = "test@example.com"
    return env


def template_readme_commands() -> list[str]:
    text = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", text, flags=re.S)


BUS = "src/my_service/core/bus.py"
BUS_TEMPLATE = "template/src/{{package_name}}/core/bus.py"
ASK_LINE = "- `ask(query)`: exactly one handler; returns its result."


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def make_v2(template: Path) -> None:
    """v2 changes template-owned files: the bus docstring, the README, the CI workflow."""
    edit(template / BUS_TEMPLATE, ASK_LINE, ASK_LINE.replace("result.", "result (v2)."))
    readme = template / "template/README.md.jinja"
    readme.write_text(readme.read_text() + "\nTemplate v2.\n")
    workflow = template / "template/.github/workflows/ci.yml.jinja"
    workflow.write_text(workflow.read_text() + "# v2\n")
    commit_all(template, "v2", tag="v2")


def set_section(project: Path, section: str, entries: str) -> None:
    """Replace one top-level section of blueprint.yml, keeping the others."""
    blueprint = project / "blueprint.yml"
    head, rest = blueprint.read_text(encoding="utf-8").split(f"{section}:\n")
    lines = rest.splitlines(keepends=True)
    end = next((i for i, line in enumerate(lines) if line[:1] not in (" ", "\n", "")), len(lines))
    tail = "".join(lines[end:])
    blueprint.write_text(f"{head}{section}:\n{entries}\n{tail}", encoding="utf-8")
    run(["git", "add", "blueprint.yml"], project)


def set_cells(project: Path, cells: list[str]) -> None:
    entries = "".join(f"  {cell}:\n    placement: in-process\n" for cell in cells)
    set_section(project, "cells", entries)


def commit(project: Path, message: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`git commit` with the project's pre-commit hooks, as a user runs it; not checked."""
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    return run(["git", *identity, "commit", "-m", message], project, env, check=False)


@pytest.fixture
def render_project(tmp_path: Path) -> Callable[..., Path]:
    """Render into `<tmp>/<folder>` with the given answers; returns the project path."""

    def _render(folder: str = "my-service", **answers: Any) -> Path:
        return render(tmp_path / folder, **answers)

    return _render


@pytest.fixture(scope="session")
def uv() -> str:
    path = shutil.which("uv")
    assert path, "uv must be on PATH (pip install uv)"
    return path


def assert_all_passed(output: str) -> None:
    """pytest's closing line says only "N passed" (nothing failed, skipped or errored)."""
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), summary
    assert "failed" not in summary and "skipped" not in summary and "error" not in summary


def collected(project: Path, env: dict[str, str], *paths: str) -> list[str]:
    """The test ids `uv run pytest [paths]` collects."""
    listed = run(["uv", "run", "pytest", "--collect-only", "-q", *paths], project, env)
    return [line for line in listed.stdout.splitlines() if "::" in line]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first: xdist hands tests out in collection order, and a
    minutes-long test collected last would run alone at the end of the run. Marked ones
    go by their `minutes`, longest first; the others keep their order."""

    def minutes(item: pytest.Item) -> float:
        marker = item.get_closest_marker("longest")
        return float(marker.kwargs["minutes"]) if marker else 0.0

    items.sort(key=minutes, reverse=True)

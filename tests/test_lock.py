"""A generated project is locked from its first commit.

The copy task writes `uv.lock` from the lock stored with the template (`locks/uv.lock`,
see hooks/cellforge_hooks/lockfile.py), so the lock is in the first commit and a fresh
clone installs with `uv sync --locked`. The stored lock must follow the template's
dependencies: `uv lock --check` on rendered projects (every supported Python; names that
sort first, in the middle and last) fails until `uv run python locks/refresh.py` is run.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import copier
import pytest
from cellforge_hooks.lockfile import project_lock

from bench.snapshot import IDENTITY, commit_all, git_snapshot

from .conftest import TEMPLATE, git_commit_all, project_env, run

STORED = TEMPLATE / "locks" / "uv.lock"
REFRESH = "uv run python locks/refresh.py"
ENTRY_NAMES = re.compile(r'^\[\[package\]\]\nname = "([^"]+)"$', re.MULTILINE)


def lock_check(project: Path, python_version: str) -> subprocess.CompletedProcess[str]:
    """`uv lock --check` as a user or CI runs it: does the lock fit pyproject.toml?"""
    command = ["uv", "lock", "--check", "--offline"]
    return run(command, project, project_env(python_version), check=False)


def own_entry(lock: str) -> str:
    """The project's own `[[package]]` entry (its source is the project folder)."""
    (entry,) = [e for e in lock.split("\n[[package]]\n") if 'source = { editable = "." }' in e]
    return entry


def test_the_stored_lock_is_sorted_as_uv_sorts_and_a_project_takes_its_place() -> None:
    base = STORED.read_text(encoding="utf-8")
    stored_names = ENTRY_NAMES.findall(base)
    # uv's order is plain string order of the names (pydantic < pydantic-core < pydantic-settings).
    assert stored_names == sorted(stored_names)
    for name in ("aaa", "pydantic-zz", "my-service", "zzz", "Odd_Name.Here"):
        lock = project_lock(base, name, "3.13")
        names = ENTRY_NAMES.findall(lock)
        assert names == sorted(names), name
        assert len(names) == len(stored_names)
        normalised = re.sub(r"[-_.]+", "-", name).lower()
        assert own_entry(lock).startswith(f'name = "{normalised}"')
        assert 'requires-python = ">=3.13"' in lock.split("\n[[package]]\n")[0]
        # Everything else is uv's text, byte for byte.
        others = [e for e in lock.split("\n[[package]]\n")[1:] if e != own_entry(lock)]
        assert others == [e for e in base.split("\n[[package]]\n")[1:] if e != own_entry(base)]


@pytest.mark.slow
def test_the_first_commit_holds_the_lock_and_a_fresh_clone_installs_from_it(
    render_project: Callable[..., Path], tmp_path: Path
) -> None:
    project = render_project()
    assert (project / "uv.lock").is_file(), "no uv.lock straight after copier copy"
    assert not (project / "locks").exists(), "the template's stored lock leaked"
    git_commit_all(project)
    assert run(["git", "ls-files", "uv.lock"], project).stdout.strip() == "uv.lock"

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    env = project_env("3.11")
    run(["uv", "sync", "--locked", "--quiet"], clone, env)
    # The repro gate reads the lock: present, pinned by hash, in sync with pyproject.toml.
    gate = run(["uv", "run", "my-service", "genops", "check", "repro"], clone, env)
    assert "uv.lock ok" in gate.stdout, gate.stdout
    assert run(["git", "status", "--porcelain"], clone).stdout == "", "the lock was rewritten"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("project_name", "python_version"),
    [("my-service", "3.11"), ("abc-service", "3.12"), ("zz-top", "3.13")],
    ids=["middle-py3.11", "first-py3.12", "last-py3.13"],
)
def test_the_stored_lock_follows_the_template_dependencies(
    render_project: Callable[..., Path], project_name: str, python_version: str
) -> None:
    project = render_project(project_name=project_name, python_version=python_version)
    lock = (project / "uv.lock").read_text(encoding="utf-8")
    assert own_entry(lock).startswith(f'name = "{project_name}"')
    assert f'requires-python = ">={python_version}"' in lock
    checked = lock_check(project, python_version)
    assert checked.returncode == 0, (
        f"locks/uv.lock no longer fits template/pyproject.toml.jinja: run `{REFRESH}` and "
        f"commit it\n{checked.stderr}"
    )


@pytest.mark.slow
def test_a_dependency_change_without_the_lock_following_is_caught(tmp_path: Path) -> None:
    """A template whose pyproject gains a dependency, with the stored lock left as it was."""
    template = git_snapshot(TEMPLATE, tmp_path / "template")
    pyproject = template / "template" / "pyproject.toml.jinja"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('"pyyaml>=6.0.2",', '"pyyaml>=6.0.2",\n    "six>=1.16",'))
    project = tmp_path / "my-service"
    copier.run_copy(str(template), project, defaults=True, unsafe=True, vcs_ref="HEAD", quiet=True)
    checked = lock_check(project, "3.11")
    assert checked.returncode != 0
    # Offline, uv says so in one of two ways: six's metadata is cached, or it is not.
    reasons = ("needs to be updated", "six was not found in the cache")
    assert any(reason in checked.stderr for reason in reasons), checked.stderr


@pytest.mark.slow
def test_a_template_update_never_touches_the_teams_lock(tmp_path: Path) -> None:
    """Plain `copier update` (what Renovate runs) to a version with another stored lock."""
    template = git_snapshot(TEMPLATE, tmp_path / "template", tag="v1")
    project = tmp_path / "my-service"
    copier.run_copy(str(template), project, defaults=True, unsafe=True, vcs_ref="v1", quiet=True)
    git_commit_all(project)
    teams = (project / "uv.lock").read_text(encoding="utf-8") + "# the team's lock\n"
    (project / "uv.lock").write_text(teams, encoding="utf-8")
    run(["git", *IDENTITY, "commit", "-qam", "uv add"], project)
    stored = template / "locks" / "uv.lock"
    stored.write_text(stored.read_text(encoding="utf-8") + "# v2\n", encoding="utf-8")
    commit_all(template, "v2: a new stored lock", tag="v2")

    copier.run_update(project, vcs_ref="v2", defaults=True, unsafe=True, overwrite=True, quiet=True)
    answers = (project / ".copier-answers.yml").read_text(encoding="utf-8")
    assert "_commit: v2" in answers
    assert (project / "uv.lock").read_text(encoding="utf-8") == teams
    assert "uv.lock" not in run(["git", "status", "--porcelain"], project).stdout

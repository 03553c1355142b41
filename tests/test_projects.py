"""Every generated project is green at birth, for a matrix of answers.

Each answer set is rendered, synced into a fresh venv by uv, and then checked with what
its own README and CI run: `uv run pytest` (the user's tests, the assembled service's,
ruff check, ruff format --check, mypy, lint-imports and `explain --check`, see the
project's tests/test_service.py and tests/test_checks.py), `pre-commit run --all-files`
and `genops check`. The framework's own tests (the project's tests/cellforge/) do not
depend on the answers' cells or roles: they run once, on the default project after a
team's first edits (tests/test_user_edits.py).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import assert_all_passed, git_commit_all, project_env, render, run

pytestmark = pytest.mark.slow

MATRIX: dict[str, dict[str, Any]] = {
    "defaults-py3.11": {"python_version": "3.11"},
    "four-long-cells-py3.12": {
        "python_version": "3.12",
        "cells": ["notes", "billing", "order_items", "customer_loyalty_programme_ops"],
        "license": "Apache-2.0",
    },
    "hyphenated-longest-name-py3.13": {
        "project_name": "acme-wholesale-order-fulfilment-services",
        "python_version": "3.13",
        "cells": ["orders"],
        "license": "BSD-3-Clause",
    },
    "non-ascii": {
        "project_name": "dienst",
        "description": "Bestelldienst für Zoë — ünïcødé, “quotes” and 'apostrophes' ✓",
        "author_name": "Zoë Ångström",
        "license": "Proprietary",
    },
    "another-port": {"project_name": "edge", "http_port": 9123, "cells": ["notes", "audit_log"]},
}


def python_of(answers: dict[str, Any]) -> str:
    return str(answers.get("python_version", "3.11"))


def check_project(project: Path, python_version: str) -> str:
    """Sync, run the project's default test run, its pre-commit hooks and every GenOps
    gate; return pytest's output."""
    env = project_env(python_version)
    run(["uv", "sync", "--locked", "--quiet"], project, env)
    tested = run(["uv", "run", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    git_commit_all(project)
    run(["uv", "run", "pre-commit", "run", "--all-files", "--show-diff-on-failure"], project, env)
    assert run(["git", "status", "--porcelain"], project).stdout == "", "a check changed files"
    # Every GenOps gate, the slow ones included, passes on a fresh project, in one table.
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    gates = run(["uv", "run", answers["project_name"], "genops", "check"], project, env)
    rows = [line.split()[:2] for line in gates.stdout.splitlines()[1:7]]
    assert [gate for gate, _ in rows] == ["pins", "semdiff", "repro", "budget", "context", "e2e"]
    assert all(status in ("PASS", "WARN") for _, status in rows), gates.stdout
    assert run(["git", "status", "--porcelain"], project).stdout == "", "a gate changed files"
    return tested.stdout


@pytest.mark.longest(minutes=2)
@pytest.mark.parametrize("answers", MATRIX.values(), ids=MATRIX.keys())
def test_a_generated_project_passes_all_its_checks(
    render_project: Callable[..., Path], answers: dict[str, Any]
) -> None:
    project = render_project(**answers)
    assert_all_passed(check_project(project, python_of(answers)))
    version = run(["uv", "run", "python", "--version"], project, project_env(python_of(answers)))
    assert version.stdout.startswith(f"Python {python_of(answers)}.")


def test_a_cross_cell_import_fails_the_checks(render_project: Callable[..., Path]) -> None:
    project = render_project(cells=["notes", "billing"])
    env = project_env("3.11")
    run(["uv", "sync", "--quiet"], project, env)
    handlers = project / "src/my_service/cells/billing/handlers.py"
    handlers.write_text(
        "from my_service.cells.notes.messages import CreateNote  # noqa: F401\n"
        + handlers.read_text(encoding="utf-8")
    )
    contracts = run(["uv", "run", "lint-imports"], project, env, check=False)
    assert contracts.returncode != 0
    assert "Cells are independent of one another BROKEN" in contracts.stdout
    tests = run(["uv", "run", "pytest", "-q", "tests/test_checks.py"], project, env, check=False)
    assert tests.returncode != 0
    assert "import contracts" in tests.stdout


def test_the_core_may_not_import_a_cell(render_project: Callable[..., Path]) -> None:
    project = render_project()
    env = project_env("3.11")
    run(["uv", "sync", "--quiet"], project, env)
    bus = project / "src/my_service/core/bus.py"
    bus.write_text(bus.read_text(encoding="utf-8") + "\nfrom ..cells import notes  # noqa\n")
    contracts = run(["uv", "run", "lint-imports"], project, env, check=False)
    assert "Nothing outside cells/ imports a cell BROKEN" in contracts.stdout


def test_the_ci_workflow_is_a_valid_github_workflow(render_project: Callable[..., Path]) -> None:
    project = render_project()
    workflow = project / ".github/workflows/ci.yml"
    run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(workflow)],
        project,
    )
    text = workflow.read_text(encoding="utf-8")
    assert "uv run pytest" in text
    assert "pre-commit run --all-files" in text
    jobs = yaml.safe_load(text)["jobs"]
    steps = [step for job in jobs.values() for step in job["steps"]]
    actions = [step["uses"] for step in steps if "uses" in step]
    assert actions, "the workflow uses no action"
    for action in actions:  # a tag can be moved to other code; a commit cannot
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action} is not pinned"
    # Least privilege: nothing by default, read-only contents per job.
    assert yaml.safe_load(text)["permissions"] == {}
    assert all(job["permissions"] == {"contents": "read"} for job in jobs.values())
    assert all(
        step.get("with", {}).get("persist-credentials") is False
        for step in steps
        if step.get("uses", "").startswith("actions/checkout@")
    )
    setups = [step for step in steps if step.get("uses", "").startswith("astral-sh/setup-uv@")]
    assert len(setups) == len(jobs)
    assert all(step["with"]["enable-cache"] is True for step in setups)
    # The default run and the framework's tests are jobs of their own; only the latter
    # needs the Redis and NATS servers, and they must run there, not skip.
    assert "uv run pytest" in [step.get("run") for step in jobs["checks"]["steps"]]
    framework = jobs["framework"]["steps"]
    [tests] = [step for step in framework if "pytest" in step.get("run", "")]
    assert tests["run"] == "uv run pytest tests/cellforge -n auto"
    assert tests["env"] == {"CELLFORGE_REQUIRE_SERVERS": "1"}
    assert any("redis-server nats-server" in step.get("run", "") for step in framework)
    # Each gate is a job of its own, running exactly that gate.
    for gate in ("pins", "semdiff", "repro", "budget", "context", "e2e"):
        commands = " ".join(step.get("run", "") for step in jobs[f"genops-{gate}"]["steps"])
        assert f"uv run my-service genops check {gate}" in commands


def readme_commands(readme: Path) -> list[str]:
    """The shell commands of the README's fenced `sh` blocks, in order."""
    return re.findall(r"```sh\n(.+?)\n```", readme.read_text(encoding="utf-8"), flags=re.S)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_readme_commands_work_on_a_fresh_clone(tmp_path: Path) -> None:
    """A fresh copy, committed and cloned; a fresh venv; then the README's two commands."""
    origin = render(tmp_path / "origin", project_name="fresh-service")
    git_commit_all(origin)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    serve_command, test_command = readme_commands(clone / "README.md")[:2]
    assert serve_command == "uv run fresh-service serve"
    assert test_command == "uv run pytest"
    env = project_env("3.11")

    tested = run(test_command, clone, env)
    assert re.search(r"\d+ passed", tested.stdout)
    assert (clone / ".venv").is_dir(), "the test command made its own fresh venv"

    port = free_port()
    env |= {"FRESH_SERVICE_PORT": str(port), "FRESH_SERVICE_DATA_DIR": str(tmp_path / "data")}
    create_key = readme_commands(clone / "README.md")[2].splitlines()[0]
    assert create_key == "uv run fresh-service keys create --role admin"
    key = run(create_key, clone, env).stdout.splitlines()[-1]
    server = subprocess.Popen(serve_command, shell=True, cwd=clone, env=env, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:
                    assert json.load(answer) == {"status": "ok"}
                break
            except OSError:
                assert server.poll() is None, "serve exited"
                assert time.monotonic() < deadline, "serve did not answer within 60 s"
                time.sleep(0.2)
        body = json.dumps({"text": "from the README"}).encode()
        headers = {"content-type": "application/json"}
        anonymous = urllib.request.Request(f"{base}/notes/create-note", body, headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(anonymous, timeout=5)
        assert refused.value.code == 401
        headers["authorization"] = f"Bearer {key}"
        request = urllib.request.Request(f"{base}/notes/create-note", body, headers)
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert json.load(answer)["text"] == "from the README"
        assert (tmp_path / "data" / "notes.sqlite3").is_file()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)

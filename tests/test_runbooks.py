"""The placement runbooks end to end, in a generated project committed to git with its
pre-commit hooks installed, through the real regeneration loop.

One project serves the whole story (generating and syncing one is the slow part): a dry
run changes nothing; `promote-cell notes --to redis --yes` without a terminal moves the
cell (one line of blueprint.yml, the user's comments kept; the answers, the derived
files and the settings, which read the typed blueprint, follow) and prints how to deploy
the worker; the result commits cleanly through the hooks; `demote-cell` brings it back
to the committed text; and on a terminal the runbook asks, and a typed "y" applies.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pexpect
import pytest
import yaml

from bench.snapshot import git_snapshot

from .conftest import TEMPLATE, commit, generate_committed, project_env, render, run

pytestmark = pytest.mark.slow

PROBE = "import json; from my_service.core.settings import Settings; "
PROBE += "print(json.dumps(Settings().placements))"
COMMENT = "# notes moves out when its trigger fires (ours, keep it)\n"


def settings_placements(project: Path, env: dict[str, str]) -> dict[str, str]:
    """The placements the project's settings read in a new process."""
    done = run(["uv", "run", "python", "-c", PROBE], project, env)
    placed: dict[str, str] = json.loads(done.stdout.splitlines()[-1])
    return placed


def runbook(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`uv run my-service runbook ...` as a script runs it: no terminal on stdin."""
    return subprocess.run(
        ["uv", "run", "my-service", "runbook", *args],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def files(project: Path) -> dict[str, str]:
    skipped = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
    return {
        path.relative_to(project).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in project.rglob("*")
        if path.is_file() and not skipped & set(path.relative_to(project).parts)
    }


def placement(project: Path, cell: str) -> object:
    cells = yaml.safe_load((project / "blueprint.yml").read_text(encoding="utf-8"))["cells"]
    return cells[cell]["placement"]


def status(project: Path) -> list[str]:
    return run(["git", "status", "--porcelain"], project).stdout.splitlines()


def committed(project: Path, env: dict[str, str], message: str) -> None:
    run(["git", "add", "-A"], project)
    done = commit(project, message, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert status(project) == []


def test_promote_and_demote_a_cell_through_the_regeneration_loop(tmp_path: Path) -> None:
    template = git_snapshot(TEMPLATE, tmp_path / "template", tag="v1")
    project = generate_committed(
        template, tmp_path / "my-service", "v1", cells=["notes", "billing"]
    )
    env = project_env("3.11")
    blueprint = project / "blueprint.yml"
    ours = blueprint.read_text(encoding="utf-8").replace("cells:\n", f"{COMMENT}cells:\n", 1)
    ours = ours.replace("  notes:\n", "  notes:  # the first cell\n", 1)
    blueprint.write_text(ours, encoding="utf-8")
    committed(project, env, "our comments")

    # A dry run (the default, and what no terminal means) prints the plan, changes nothing.
    before = files(project)
    dry = runbook(project, env, "run", "promote-cell", "notes", "--to", "redis")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "dry run: nothing was changed" in dry.stdout
    assert "+     placement: {worker: redis}" in dry.stdout
    assert files(project) == before and status(project) == []

    # --yes applies every step without asking, through the real `copier update`.
    promoted = runbook(project, env, "run", "promote-cell", "notes", "--to", "redis", "--yes")

    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    out = promoted.stdout
    assert placement(project, "notes") == {"worker": "redis"}
    lines = zip(ours.splitlines(), blueprint.read_text(encoding="utf-8").splitlines(), strict=True)
    assert [(a, b) for a, b in lines if a != b] == [
        ("    placement: in-process", "    placement: {worker: redis}")
    ]
    assert settings_placements(project, env) == {"notes": "redis"}
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["placements"] == {"notes": "redis"}
    assert 'the settings read placements {"notes": "redis"}' in out
    assert "uv run my-service worker --cell notes" in out
    assert "export MY_SERVICE_REDIS_URL=redis://127.0.0.1:6379/0" in out
    assert "uv sync --extra redis" in out
    assert "undo once committed: uv run my-service runbook run demote-cell notes --yes" in out
    changed = sorted(line[3:] for line in status(project))
    derived = [path for path in changed if path.startswith(("deploy/", "docs/"))]
    assert sorted(set(changed) - set(derived)) == sorted(
        [".cellforge-state.json", ".copier-answers.yml", "blueprint.yml"]
    )
    # What is generated from the blueprint follows: the architecture page and deploy/.
    assert "docs/architecture.md" in derived and "deploy/compose.yaml" in derived
    compose = yaml.safe_load((project / "deploy/compose.yaml").read_text(encoding="utf-8"))
    assert {"worker-notes", "redis"} <= set(compose["services"])
    assert run(["git", "diff", "--cached", "--name-only"], project).stdout == ""

    # The hooks agree: committing it needs no second round.
    committed(project, env, "promote notes")

    demoted = runbook(project, env, "run", "demote-cell", "notes", "--yes")

    assert demoted.returncode == 0, demoted.stdout + demoted.stderr
    assert placement(project, "notes") == "in-process"
    assert blueprint.read_text(encoding="utf-8") == ours
    assert settings_placements(project, env) == {}
    assert "stop it, once its redis queue is empty" in demoted.stdout
    committed(project, env, "demote notes")

    # Refused with nothing changed: the cell is already there.
    again = runbook(project, env, "run", "demote-cell", "notes", "--yes")
    assert again.returncode == 2
    assert "already runs in the gateway's process" in again.stderr
    assert status(project) == []

    # On a terminal it shows the plan and asks; "y" applies.
    child = pexpect.spawn(
        "uv",
        ["run", "my-service", "runbook", "run", "promote-cell", "billing", "--to", "nats"],
        cwd=str(project),
        env={**env, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"},
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 160),
    )
    try:
        child.expect("Apply the 4 steps of promote-cell")
        child.send("y")
        child.expect("done: promote-cell applied and verified", timeout=300)
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    assert placement(project, "billing") == {"worker": "nats"}
    assert settings_placements(project, env) == {"billing": "nats"}


def test_the_template_renders_the_runbook_pages(tmp_path: Path) -> None:
    """`copier copy` writes docs/runbooks/ (explain runs in copier's own interpreter)."""
    project = render(tmp_path / "svc", project_name="svc")
    for name in ("promote-cell", "demote-cell"):
        page = (project / "docs" / "runbooks" / f"{name}.md").read_text(encoding="utf-8")
        assert f"uv run svc runbook run {name}" in page
        assert "### 1. set the placement" in page

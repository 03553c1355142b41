"""The blueprint loop, end to end in real git repositories with pre-commit actually
invoked by `git commit`.

Each project is generated from a committed snapshot of this template (tag v1), synced,
committed, and has `pre-commit install` run, exactly as a team would set it up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import copier
import pytest

from bench.snapshot import git_snapshot

from .conftest import (
    TEMPLATE,
    commit,
    generate_committed,
    project_env,
    run,
    set_cells,
    set_section,
)

pytestmark = pytest.mark.slow

Project = tuple[Path, dict[str, str]]


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Project]:
    template = git_snapshot(TEMPLATE, tmp_path / "template", tag="v1")

    def _make(**answers: object) -> Project:
        project = generate_committed(template, tmp_path / "my-service", "v1", **answers)
        return project, project_env("3.11")

    return _make


def said(done: subprocess.CompletedProcess[str]) -> str:
    """What a command printed: git prints the hooks' output on stderr."""
    return done.stdout + done.stderr


def staged(project: Path) -> list[str]:
    return run(["git", "diff", "--cached", "--name-only"], project).stdout.split()


def test_adding_a_cell_regenerates_and_the_project_stays_green(
    make_project: Callable[..., Project],
) -> None:
    project, env = make_project()
    set_cells(project, ["notes", "billing"])

    first = commit(project, "add billing", env)

    report = said(first)
    assert first.returncode != 0, "changed files must fail the commit"
    assert "cell 'billing' added" in report
    assert "route added: POST /billing/ping" in report
    assert "'Cells are independent of one another' now covers: my_service.cells.billing" in report
    assert staged(project) == ["blueprint.yml"], "the hook stages nothing"
    assert (project / "src/my_service/cells/billing/handlers.py").is_file()
    assert "POST /billing/ping" in (project / "docs/architecture.md").read_text()
    assert "my_service.cells.billing" in (project / ".importlinter").read_text()

    run(["git", "add", "-A"], project)
    second = commit(project, "add billing", env)
    assert second.returncode == 0, second.stdout + second.stderr
    listed = run(["uv", "run", "my-service", "cells"], project, env).stdout  # from the blueprint
    assert "billing  Ping" in listed and "notes  " in listed
    run(["uv", "run", "pytest", "-q", "-p", "no:cacheprovider"], project, env)


def test_changing_roles_changes_the_policy_the_code_reads(
    make_project: Callable[..., Project],
) -> None:
    project, env = make_project()
    roles = '  admin:\n    grants: ["*"]\n  auditor:\n    grants: ["ops.metrics", "*.read"]\n'
    set_section(project, "roles", roles)

    first = commit(project, "add the auditor role", env)

    assert first.returncode != 0, said(first)
    assert not (project / "src/my_service/core/roles.py").exists(), "no module carries roles"
    page = (project / "docs/architecture.md").read_text()
    assert "| `auditor` | `ops.metrics`, `*.read` |" in page and "`member`" not in page
    answers = (project / ".copier-answers.yml").read_text()
    assert "auditor" in answers
    run(["git", "add", "-A"], project)
    second = commit(project, "add the auditor role", env)
    assert second.returncode == 0, said(second)
    check = "from my_service.core.settings import Settings; "
    check += "from my_service.gateway.policy import Policy; "
    check += "p = Policy.of(Settings().blueprint_model); "
    check += "assert p.allows('auditor', 'notes.read') and not p.allows('auditor', 'notes.write')"
    check += "; assert 'member' not in p.roles"
    run(["uv", "run", "python", "-c", check], project, env)


def test_removing_a_cell_orphans_it_and_touches_no_code(
    make_project: Callable[..., Project],
) -> None:
    project, env = make_project(cells=["notes", "billing"])
    billing = project / "src/my_service/cells/billing"
    before = {p: p.read_bytes() for p in billing.rglob("*.py")}
    set_cells(project, ["notes"])

    done = commit(project, "drop billing", env)

    assert done.returncode != 0
    assert "'billing' removed from blueprint.yml" in said(done)
    assert "ORPHANED" in said(done)
    assert "route removed: POST /billing/ping" in said(done)
    assert {p: p.read_bytes() for p in billing.rglob("*.py")} == before
    assert "POST /billing/ping" not in (project / "docs/architecture.md").read_text()
    listed = run(["uv", "run", "my-service", "cells"], project, env).stdout  # from the blueprint
    assert "billing" not in listed and "notes  " in listed


def test_renaming_a_cell_is_reported_with_the_command_that_finishes_it(
    make_project: Callable[..., Project],
) -> None:
    project, env = make_project()
    set_cells(project, ["memo"])

    done = commit(project, "rename notes to memo", env)

    assert done.returncode != 0
    assert "'notes' looks renamed to 'memo'" in said(done)
    command = "uv run python .cellforge rename-cell notes memo"
    assert command in said(done)
    run(command, project, env)
    messages = project / "src/my_service/cells/memo/messages.py"
    assert "class CreateNote" in messages.read_text()
    assert not (project / "src/my_service/cells/notes").exists()
    run(["git", "add", "-A"], project)
    finished = commit(project, "rename notes to memo", env)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    run(["uv", "run", "pytest", "-q", "-p", "no:cacheprovider"], project, env)


def test_a_broken_blueprint_never_reaches_the_template(
    make_project: Callable[..., Project],
) -> None:
    project, env = make_project()
    blueprint = project / "blueprint.yml"
    blueprint.write_text(blueprint.read_text().replace("http_port: 8000", "http_port: 80"))
    run(["git", "add", "blueprint.yml"], project)

    done = commit(project, "bad port", env)

    assert done.returncode != 0
    assert "blueprint.yml:8: service.http_port" in said(done)
    assert "fix: use a port between 1024 and 65535" in said(done)
    assert "NOT re-applied" in said(done)
    changed = run(["git", "status", "--porcelain"], project).stdout.splitlines()
    assert changed == ["M  blueprint.yml"]


def test_the_user_s_other_work_survives_a_regeneration(
    make_project: Callable[..., Project],
) -> None:
    project, env = make_project()
    handlers = project / "src/my_service/cells/notes/handlers.py"
    unstaged = handlers.read_text() + "\n# work in progress, not staged\n"
    handlers.write_text(unstaged)
    extra = project / "tests" / "test_mine.py"
    extra.write_text("def test_mine() -> None:\n    assert True\n")
    run(["git", "add", "tests/test_mine.py"], project)
    set_cells(project, ["notes", "billing"])

    done = commit(project, "add billing", env)

    assert done.returncode != 0
    assert handlers.read_text() == unstaged
    assert extra.is_file()
    assert sorted(staged(project)) == ["blueprint.yml", "tests/test_mine.py"]


def test_an_unchanged_blueprint_is_a_quick_no_op(make_project: Callable[..., Project]) -> None:
    project, env = make_project()
    done = run(["uv", "run", "python", ".cellforge", "regenerate"], project, env)
    assert "unchanged since the last apply" in said(done)
    assert run(["git", "status", "--porcelain"], project).stdout == ""


def test_hand_edits_of_template_files_are_refused_with_an_escape_hatch(
    make_project: Callable[..., Project],
) -> None:
    project, env = make_project()
    bus = project / "src/my_service/core/bus.py"
    bus.write_text(bus.read_text().replace("The in-process message bus", "A hacked bus"))
    run(["git", "add", "-A"], project)

    refused = commit(project, "hack the bus", env)

    assert refused.returncode != 0
    message = "change blueprint.yml or update the template instead"
    assert f"src/my_service/core/bus.py: template-owned file edited by hand: {message}" in said(
        refused
    )
    emergency = commit(project, "hack the bus", {**env, "SKIP": "cellforge-owned"})
    assert emergency.returncode == 0, emergency.stdout + emergency.stderr


def test_a_blueprint_change_the_template_ignores_still_refreshes_what_derives_from_it(
    make_project: Callable[..., Project],
) -> None:
    """The image tag and a trigger threshold are no copier answers, but deploy/ and the
    architecture page are generated from them: the hook rewrites them and asks for a
    second commit, as pre-commit fixers do."""
    project, env = make_project()
    blueprint = project / "blueprint.yml"
    text = blueprint.read_text(encoding="utf-8")
    text = text.replace('tag: "0.1.0"', 'tag: "0.2.0"').replace(
        "cpu_percent: 75", "cpu_percent: 60"
    )
    blueprint.write_text(text, encoding="utf-8")
    run(["git", "add", "blueprint.yml"], project)

    first = commit(project, "release 0.2.0", env)

    assert first.returncode != 0
    assert "regenerated deploy/compose.yaml from blueprint.yml" in said(first)
    assert "regenerated docs/architecture.md from blueprint.yml" in said(first)
    assert "my-service:0.2.0" in (project / "deploy/compose.yaml").read_text(encoding="utf-8")
    run(["git", "add", "-A"], project)
    second = commit(project, "release 0.2.0", env)
    assert second.returncode == 0, said(second)
    assert run(["git", "status", "--porcelain"], project).stdout == ""


def test_the_fast_genops_gates_refuse_an_unpinned_model_at_commit(
    make_project: Callable[..., Project],
) -> None:
    project, env = make_project()
    handlers = project / "src/my_service/cells/notes/handlers.py"
    original = handlers.read_text(encoding="utf-8")
    handlers.write_text(original + '\n\nMODEL = "gpt-4o-latest"\n', encoding="utf-8")
    run(["git", "add", "-A"], project)

    refused = commit(project, "call a floating model", env)

    assert refused.returncode != 0
    assert "GenOps: model ids are pinned, none retired" in said(refused)
    assert "gpt-4o-latest" in said(refused)
    # The id the blueprint pins is fine: the gate allowlists exact, pinned ids.
    handlers.write_text(original + '\n\nMODEL = "gpt-4.1-mini-2025-04-14"\n', encoding="utf-8")
    run(["git", "add", "-A"], project)
    accepted = commit(project, "name the pinned model", env)
    assert accepted.returncode == 0, said(accepted)


def test_the_hook_repository_manifest_is_valid() -> None:
    run(["pre-commit", "validate-manifest", ".pre-commit-hooks.yaml"], TEMPLATE)
    assert os.access(TEMPLATE / "hooks" / "__main__.py", os.R_OK)


def test_rename_cell_refuses_to_replace_work_that_is_not_the_fresh_skeleton(
    make_project: Callable[..., Project],
) -> None:
    project, env = make_project()
    set_cells(project, ["memo"])
    commit(project, "rename notes to memo", env)
    handlers = project / "src/my_service/cells/memo/handlers.py"
    handlers.write_text(handlers.read_text() + "\n# WORK\n")
    (handlers.parent / "extra.py").write_text("X = 1\n")

    refused = run(
        ["uv", "run", "python", ".cellforge", "rename-cell", "notes", "memo"],
        project,
        env,
        check=False,
    )

    assert refused.returncode == 1
    assert "rename refused" in said(refused)
    assert handlers.read_text().endswith("\n# WORK\n")
    assert (handlers.parent / "extra.py").read_text() == "X = 1\n"
    assert (project / "src/my_service/cells/notes/messages.py").is_file()


def test_a_cell_deleted_earlier_comes_back_from_the_skeleton_when_listed_again(
    make_project: Callable[..., Project],
) -> None:
    project, env = make_project(cells=["notes", "billing"])
    set_cells(project, ["notes"])
    commit(project, "drop billing", env)
    run(["git", "add", "-A"], project)
    assert commit(project, "drop billing", env).returncode == 0
    run(
        ["git", "rm", "-rq", "src/my_service/cells/billing", "tests/cells/test_billing_cell.py"],
        project,
    )
    # The `cellforge-explain` fixer takes the deleted code out of the import diagram.
    assert "refresh the docs and contracts derived from the code" in said(
        commit(project, "delete billing's code", env)
    )
    run(["git", "add", "-A"], project)
    assert commit(project, "delete billing's code", env).returncode == 0
    set_cells(project, ["notes", "billing"])

    again = commit(project, "billing again", env)

    assert "cell 'billing' added" in said(again)
    assert (project / "src/my_service/cells/billing/handlers.py").is_file()
    run(["git", "add", "-A"], project)
    assert commit(project, "billing again", env).returncode == 0
    run(["uv", "run", "pytest", "-q", "-p", "no:cacheprovider"], project, env)


def test_a_hand_written_cell_committed_with_its_blueprint_entry(
    make_project: Callable[..., Project],
) -> None:
    project, env = make_project()
    cells = project / "src/my_service/cells"
    shutil.copytree(cells / "notes", cells / "billing")
    init = cells / "billing" / "__init__.py"
    init.write_text(init.read_text().replace('name="notes"', 'name="billing"'))
    run(["git", "add", "-A"], project)
    set_cells(project, ["notes", "billing"])

    first = commit(project, "a hand-written billing cell", env)

    assert "cell 'billing' registered: its code in src/my_service/cells/billing/" in said(first)
    assert "could not apply" not in said(first)
    assert "class CreateNote" in (cells / "billing" / "messages.py").read_text()
    run(["git", "add", "-A"], project)
    second = commit(project, "a hand-written billing cell", env)
    assert second.returncode == 0, said(second)


def test_a_comment_in_the_blueprint_is_no_change(make_project: Callable[..., Project]) -> None:
    project, env = make_project()
    blueprint = project / "blueprint.yml"
    blueprint.write_text(blueprint.read_text() + "# why we have one cell\n")
    run(["git", "add", "blueprint.yml"], project)
    done = commit(project, "a comment", env)
    assert done.returncode == 0, said(done)


def test_the_blueprint_cannot_change_before_the_first_commit(tmp_path: Path) -> None:
    template = git_snapshot(TEMPLATE, tmp_path / "template", tag="v1")
    project = tmp_path / "fresh"
    copier.run_copy(str(template), project, defaults=True, unsafe=True, vcs_ref="v1", quiet=True)
    env = project_env("3.11")
    run(["git", "init", "-q", "-b", "main"], project)
    run(["uv", "sync", "--quiet"], project, env)
    blueprint = project / "blueprint.yml"
    blueprint.write_text(blueprint.read_text().replace("8000", "8100"))
    done = run(["uv", "run", "python", ".cellforge", "regenerate"], project, env, check=False)
    assert done.returncode == 1
    assert "commit the generated project once" in said(done)

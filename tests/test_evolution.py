"""The template evolves from v1 to v2 under a living project.

A snapshot of this template is tagged v1, a project is generated from it and committed,
the user edits their files, and a v2 of the template changes template-owned files (and,
for the migration, renames a blueprint key). The project is then updated through the
regenerate command: `python .cellforge regenerate --template-ref v2`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.snapshot import commit_all, git_snapshot

from .conftest import (
    ASK_LINE,
    BUS,
    TEMPLATE,
    edit,
    generate_committed,
    make_v2,
    project_env,
    run,
)

pytestmark = pytest.mark.slow


def regenerate_to_v2(project: Path) -> tuple[int, str]:
    done = run(
        ["uv", "run", "python", ".cellforge", "regenerate", "--template-ref", "v2"],
        project,
        project_env("3.11"),
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def commit_without_hooks(project: Path, message: str) -> None:
    run(["git", "add", "-A"], project)
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    run(["git", *identity, "commit", "--no-verify", "-qm", message], project)


@pytest.fixture
def template(tmp_path: Path) -> Path:
    return git_snapshot(TEMPLATE, tmp_path / "template", tag="v1")


@pytest.fixture
def project(tmp_path: Path, template: Path) -> Path:
    return generate_committed(template, tmp_path / "my-service", "v1")


def test_an_update_keeps_user_edits_applies_the_template_and_respects_deletions(
    template: Path, project: Path
) -> None:
    handlers = project / "src/my_service/cells/notes/handlers.py"
    handlers.write_text(handlers.read_text() + "\nMAX_TAGS = 5\n")
    edit(project / "blueprint.yml", "http_port: 8000", "http_port: 8100")
    cell_test = project / "tests/cells/test_notes_cell.py"
    cell_test.write_text(cell_test.read_text() + "\n\ndef test_mine() -> None:\n    pass\n")
    run(["git", "rm", "-q", ".github/workflows/ci.yml"], project)
    commit_without_hooks(project, "user edits")
    mine = {path: path.read_bytes() for path in (handlers, cell_test, project / "blueprint.yml")}
    make_v2(template)

    status, report = regenerate_to_v2(project)

    assert status == 1, report  # files changed: the commit must be redone
    assert "CONFLICT" not in report
    assert {path: path.read_bytes() for path in mine} == mine, "user edits must be intact"
    assert "returns its result (v2)." in (project / BUS).read_text()
    assert "Template v2." in (project / "README.md").read_text()
    probe = "from my_service.core.settings import Settings; print(Settings().port)"
    env = project_env("3.11")
    assert run(["uv", "run", "python", "-c", probe], project, env).stdout.split()[-1] == "8100"
    assert not (project / ".github/workflows/ci.yml").exists(), "a deleted file stays deleted"
    assert "_commit: v2" in (project / ".copier-answers.yml").read_text()


def test_a_conflicting_edit_fails_loudly_and_cannot_be_committed(
    template: Path, project: Path
) -> None:
    edit(project / BUS, ASK_LINE, ASK_LINE.replace("result.", "result, always."))
    commit_without_hooks(project, "a hand edit in a template-owned file")
    make_v2(template)

    status, report = regenerate_to_v2(project)

    assert status == 1
    assert f"CONFLICTS in {BUS}" in report
    assert "<<<<<<<" in (project / BUS).read_text()
    env = project_env("3.11")
    leftover = project / "src/my_service/core/bus.py.rej"
    leftover.write_text("a leftover hunk\n")
    run(["git", "add", "-A"], project)
    for hook, path in (("check-merge-conflict", BUS), ("no-rej-files", str(leftover))):
        refused = run(
            ["uv", "run", "pre-commit", "run", hook, "--files", path], project, env, check=False
        )
        assert refused.returncode != 0, f"{hook} let {path} through"


def test_a_migration_renames_a_blueprint_key_and_keeps_its_value(
    template: Path, project: Path
) -> None:
    edit(project / "blueprint.yml", "http_port: 8000", "http_port: 8100  # the team's port")
    commit_without_hooks(project, "custom port")
    edit(
        template / "hooks/cellforge_hooks/blueprint.py",
        '("service", "http_port")',
        '("service", "port")',
    )
    edit(
        template / "template/blueprint.yml.jinja",
        "http_port: {{ http_port }}",
        "port: {{ http_port }}",
    )
    # The typed blueprint (the schema editors use is generated from it) and its readers.
    src = template / "template/src/{{package_name}}"
    edit(src / "core/blueprint_model.py", "    http_port: Port = Field(", "    port: Port = Field(")
    edit(src / "core/settings.py", "blueprint.service.http_port", "blueprint.service.port")
    edit(src / "ops/deploy/facts.py", "blueprint.service.http_port", "blueprint.service.port")
    edit(
        template / "copier.yml",
        "_skip_if_exists:\n  - blueprint.yml\n",
        "_skip_if_exists:\n  - blueprint.yml\n"
        "_migrations:\n"
        "  - version: v2\n"
        "    when: \"{{ _stage == 'before' }}\"\n"
        "    command:\n"
        '      - "{{ _copier_python }}"\n'
        '      - "{{ _copier_conf.src_path }}/hooks"\n'
        "      - migrate\n"
        "      - rename-key\n"
        "      - --from\n"
        "      - service.http_port\n"
        "      - --to\n"
        "      - service.port\n",
    )
    commit_all(template, "v2: rename service.http_port to service.port", tag="v2")

    status, report = regenerate_to_v2(project)

    assert status == 1, report
    blueprint = (project / "blueprint.yml").read_text()
    assert "  port: 8100  # the team's port\n" in blueprint
    assert "http_port" not in blueprint
    env = project_env("3.11")
    run(["uv", "run", "my-service", "blueprint", "check"], project, env)
    probe = "from my_service.core.settings import Settings; print(Settings().port)"
    assert run(["uv", "run", "python", "-c", probe], project, env).stdout.split()[-1] == "8100"
    schema = (project / "src/my_service/core/blueprint.schema.json").read_text()
    assert '"port"' in schema and "http_port" not in schema

"""The template repository's layout, and that nothing of it leaks."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import yaml
from cellforge_hooks.state import owned_by_template, rendered_name, template_files

from .conftest import TEMPLATE

SKELETON_OUTPUTS = ("src/{package}/cells/{cell}/", "tests/cells/test_{cell}_cell.py")
DERIVED = {
    "src/my_service/core/blueprint.schema.json",  # `explain` writes it from the typed model
    "docs/architecture.md",
    "docs/distribution.md",
    "docs/asyncapi.json",
    "docs/genops.md",
    "docs/runbooks/promote-cell.md",
    "docs/runbooks/demote-cell.md",
    "docs/runbooks/rotate-keys.md",
    "docs/runbooks/verify-audit.md",
    "docs/runbooks/backup.md",
    "docs/runbooks/restore.md",
    "docs/runbooks/shed-load.md",
    "docs/runbooks/restore-load.md",
    "docs/runbooks/rollback.md",
    "docs/runbooks/dead-letters.md",
    "docs/runbooks/replay-dead-letters.md",
    "docs/runbooks/drop-dead-letters.md",
    ".importlinter",
    "AGENTS.md",  # and one in each cell's folder (a skeleton output's path)
    ".cellforge-state.json",
    "uv.lock",  # the project's own, from the template's stored lock (locks/)
    "deploy/compose.yaml",
    "deploy/k8s/base/kustomization.yaml",
    "deploy/k8s/base/gateway.yaml",
    "deploy/k8s/base/networkpolicy.yaml",
    "deploy/k8s/overlays/monolith/kustomization.yaml",
    "deploy/k8s/overlays/distributed/kustomization.yaml",
}


def copier_config() -> dict[str, object]:
    text = (TEMPLATE / "copier.yml").read_text(encoding="utf-8").split("\n---\n")[0]
    config: dict[str, object] = yaml.safe_load(text)
    return config


def test_the_template_repository_has_its_parts() -> None:
    for name in ("copier.yml", "template", "hooks", "tests", "docs", "bench", "README.md"):
        assert (TEMPLATE / name).exists(), name
    pyproject = tomllib.loads((TEMPLATE / "pyproject.toml").read_text(encoding="utf-8"))
    assert "copier>=9.19.1" in pyproject["dependency-groups"]["dev"]
    assert (TEMPLATE / "uv.lock").exists(), "the template's dev environment is locked by uv"
    for page in ("questions.md", "architecture.md", "benchmarks.md"):
        assert (TEMPLATE / "docs" / page).is_file(), page


def test_the_template_repository_itself_is_lint_clean() -> None:
    for check in (["check", "."], ["format", "--check", "."]):
        command = [sys.executable, "-m", "ruff", *check]
        done = subprocess.run(command, cwd=TEMPLATE, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_copier_settings() -> None:
    config = copier_config()
    assert config["_subdirectory"] == "template"
    assert config["_templates_suffix"] == ".jinja"
    assert config["_min_copier_version"]
    assert "_message_after_copy" in config
    answers_file = TEMPLATE / "template" / "{{_copier_conf.answers_file}}.jinja"
    assert "_copier_answers" in answers_file.read_text(encoding="utf-8")


def expected_files(project: Path, package: str, cells: list[str]) -> set[str]:
    """Every file a render may contain: template files, skeleton outputs, derived files."""
    template = TEMPLATE / "template"
    rendered = {
        rendered_name(source.relative_to(template).as_posix(), package)
        for source in template_files(template)
    }
    for cell in cells:
        for pattern in SKELETON_OUTPUTS:
            prefix = pattern.format(package=package, cell=cell)
            found = project.glob(prefix + "**/*") if prefix.endswith("/") else [project / prefix]
            rendered |= {p.relative_to(project).as_posix() for p in found if p.is_file()}
    return rendered | DERIVED


def test_nothing_from_the_template_repository_leaks(
    render_project: Callable[..., Path],
) -> None:
    project = render_project(cells=["notes", "billing"])
    produced = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert produced <= expected_files(project, "my_service", ["notes", "billing"])
    for leak in ("copier.yml", "hooks", "bench", "includes", "locks", ".ci", ".git"):
        assert not (project / leak).exists(), leak
    assert not (project / "tests" / "test_layout.py").exists()
    # The hooks are vendored on purpose (the local pre-commit hook runs them), and only them.
    vendored = {p.name for p in (project / ".cellforge").iterdir()}
    assert vendored == {"__main__.py", "cellforge_hooks"}


def test_the_generated_tests_separate_the_users_loop_from_the_framework() -> None:
    """tests/cells/ and what the user adds are the default run; tests/cellforge/ holds the
    framework's tests, is the template's, and runs only when asked for by name."""
    tests = TEMPLATE / "template" / "tests"
    root = sorted(path.name for path in tests.glob("test_*"))
    assert root == ["test_checks.py.jinja", "test_e2e.py.jinja", "test_service.py.jinja"]
    assert list((tests / "cellforge").glob("test_*")), "the framework's tests"
    assert "tests/cellforge/" in owned_by_template("any_package")
    pyproject = (TEMPLATE / "template" / "pyproject.toml.jinja").read_text(encoding="utf-8")
    [addopts] = re.findall(r"^addopts = (.+)$", pyproject, flags=re.M)
    assert '"--ignore=tests/cellforge"' in addopts
    readme = (TEMPLATE / "template" / "README.md.jinja").read_text(encoding="utf-8")
    tree = readme.split("```text", 1)[1].split("```", 1)[0]
    tests_tree = tree.split("── tests/", 1)[1].split("\n├── ", 1)[0]  # down to docs/
    assert re.search(r"── cells/ .*\(yours\)", tests_tree), "tests/cells/ is the user's"
    assert re.search(r"── cellforge/ .*\(the template's\)", tests_tree)
    assert "`uv run pytest tests/cellforge`" in readme.split("## ", 1)[0], "next to the commands"

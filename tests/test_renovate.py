"""A generated project stays current through reviewed pull requests.

Its `renovate.json` is valid against Renovate's own schema (check-jsonschema's vendored
copy), turns on Renovate's copier manager (template updates, with `--trust` because the
template runs a task) and keeps `uv.lock` current (pep621 manager for uv, lock file
maintenance, and `uv lock` after a template update).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cellforge_hooks.state import owned_by_template

from .conftest import render, run

pytestmark = pytest.mark.slow

# Renovate's copier manager finds answers files with this pattern
# (lib/modules/manager/copier/index.ts, managerFilePatterns).
COPIER_ANSWERS_PATTERN = re.compile(r"(^|/)\.copier-answers(\..+)?\.ya?ml")


def validate(config: Path) -> tuple[int, str]:
    done = run(
        ["check-jsonschema", "--builtin-schema", "vendor.renovate", str(config)],
        config.parent,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One default project for every test here: they only read it."""
    return render(tmp_path_factory.mktemp("renovate") / "my-service")


def renovate_config(project: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((project / "renovate.json").read_text(encoding="utf-8"))
    return config


def test_the_renovate_config_is_valid_for_renovate(project: Path, tmp_path: Path) -> None:
    status, output = validate(project / "renovate.json")
    assert status == 0, output
    # The schema has teeth: the same file with a wrong type is refused.
    config = renovate_config(project)
    config["lockFileMaintenance"]["enabled"] = "yes"
    broken = tmp_path / "renovate.json"
    broken.write_text(json.dumps(config), encoding="utf-8")
    status, output = validate(broken)
    assert status != 0
    assert "$.lockFileMaintenance.enabled: 'yes' is not of type 'boolean'" in output


def test_template_updates_come_as_pull_requests_from_the_copier_manager(project: Path) -> None:
    config = renovate_config(project)
    assert "copier" in config["enabledManagers"]
    # The template runs a post-render task, so copier update needs --trust.
    assert config["copier"]["ignoreScripts"] is False
    # What the copier manager reads: the answers file, its template source and version.
    found = [p.name for p in project.iterdir() if COPIER_ANSWERS_PATTERN.search(p.name)]
    assert found == [".copier-answers.yml"]
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert {"_src_path", "_commit"} <= answers.keys()
    # A template update that changes dependencies re-locks in the same pull request.
    after_update = config["copier"]["postUpgradeTasks"]
    assert after_update["commands"] == ["uv lock"]
    assert after_update["fileFilters"] == ["uv.lock"]


def test_the_lock_is_kept_current(project: Path) -> None:
    config = renovate_config(project)
    assert (project / "uv.lock").is_file(), "nothing for Renovate to maintain"
    assert "pep621" in config["enabledManagers"]  # Renovate's manager for uv projects
    assert config["lockFileMaintenance"]["enabled"] is True
    # Updates move the lock; the ranges in pyproject.toml stay the template's.
    assert config["pep621"]["rangeStrategy"] == "update-lockfile"


def test_the_team_may_tune_the_renovate_config(project: Path) -> None:
    """Schedules and automerge are the team's call: the file is shared, not template-owned."""
    assert not "renovate.json".startswith(owned_by_template("my_service"))
    # Template-owned files (CI, Dockerfile) change by updating the template, not by Renovate.
    assert set(renovate_config(project)["enabledManagers"]) == {"copier", "pep621"}

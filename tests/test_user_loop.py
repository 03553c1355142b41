"""The user's loop, run the way the README and the docs tell it.

- The README's generate command, verbatim, in a clone of the template that has tags, and
  the post-copy message's set-up commands, verbatim. Then a cell added through
  `blueprint.yml` and a real `git commit`, an upgrade to the next tag with the documented
  `regenerate --template-ref`, and a plain `copier update`.
- A recorded template source that cannot be reached stops the hook and `regenerate` with
  one line naming the fix, and changes nothing; `set-source` is that fix.
- The template as an external pre-commit hook repository (`repo:` a clone, `rev:` a tag)
  installs what its hooks import, and prints the summary the local hook prints.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from bench.snapshot import git_snapshot

from .conftest import (
    ASK_LINE,
    BUS,
    TEMPLATE,
    commit,
    generate_committed,
    make_v2,
    run,
    set_cells,
    template_readme_commands,
    user_env,
)

pytestmark = pytest.mark.slow

REGENERATE = ["uv", "run", "python", ".cellforge", "regenerate"]
ADDED = "cell 'billing' added"


def said(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def clone_of(upstream: Path, into: Path) -> Path:
    run(["git", "clone", "-q", str(upstream), str(into)], into.parent)
    return into


def set_up_steps(message: str) -> list[str]:
    """The post-copy message's commands that set the project up (not serve, not pytest)."""
    commands = [line.split("#")[0].strip() for line in message.splitlines()]
    return [c for c in commands if c.startswith(("git init", "uv run pre-commit install"))]


def test_the_readme_path_works_end_to_end(tmp_path: Path) -> None:
    upstream = git_snapshot(TEMPLATE, tmp_path / "upstream", tag="v1")
    clone = clone_of(upstream, tmp_path / "cellforge")
    env = user_env()

    copied = run(template_readme_commands()[0], clone, env)

    project = tmp_path / "my-service"
    answers = (project / ".copier-answers.yml").read_text()
    assert f"_src_path: {clone}\n" in answers, "the source is recorded as an absolute path"
    assert "_commit: v1\n" in answers
    assert f"recorded the template source as {clone}, not '.'" in said(copied)
    steps = set_up_steps(said(copied))
    assert len(steps) == 2, said(copied)
    for step in steps:
        run(step, project, env)
    run(["uv", "sync", "--quiet"], project, env)

    # (i) A cell through blueprint.yml: the hook re-applies and fails the commit once.
    set_cells(project, ["notes", "billing"])
    first = commit(project, "add billing", env)
    assert first.returncode != 0 and ADDED in said(first), said(first)
    run(["git", "add", "-A"], project)
    second = commit(project, "add billing", env)
    assert second.returncode == 0, said(second)
    assert (project / "src/my_service/cells/billing/handlers.py").is_file()

    # (ii) The template moves on; the user pulls it and upgrades as docs/regeneration.md says.
    make_v2(upstream)
    run(["git", "pull", "-q", "--ff-only"], clone, env)
    upgrade = " ".join([*REGENERATE, "--template-ref", "v2"])
    assert f"```sh\n{upgrade}\n```" in (TEMPLATE / "docs/regeneration.md").read_text()
    upgraded = run(upgrade, project, env, check=False)
    assert upgraded.returncode == 1 and "re-applied the template" in said(upgraded), said(upgraded)
    assert ASK_LINE.replace("result.", "result (v2).") in (project / BUS).read_text()
    run(["git", "add", "-A"], project)
    assert commit(project, "template v2", env).returncode == 0
    assert "_commit: v2\n" in (project / ".copier-answers.yml").read_text()

    # (iii) Copier's own update works on the project as it is.
    # With the extension the template's validators load (docs/questions.md says so).
    plain_update = ["uvx", "--with", "copier-template-extensions", "copier", "update"]
    assert " ".join(plain_update) in (TEMPLATE / "docs/questions.md").read_text()
    updated = run([*plain_update, "--trust", "--defaults"], project, env)
    assert "Traceback" not in said(updated)
    assert "_commit: v2\n" in (project / ".copier-answers.yml").read_text()
    assert (project / "src/my_service/cells/billing/handlers.py").is_file()
    status = run(["git", "status", "--porcelain"], project).stdout
    assert status == "", f"a no-op update changed files:\n{status}"


def worktree_state(project: Path) -> tuple[str, ...]:
    """Everything `git` sees in the project: files, index, worktrees."""
    return tuple(
        run(["git", *args], project).stdout
        for args in (
            ["status", "--porcelain", "-uall"],
            ["diff"],
            ["diff", "--cached"],
            ["worktree", "list"],
        )
    )


def set_answer(project: Path, key: str, value: str) -> None:
    """What an older project holds, or a hand edit: one line of .copier-answers.yml,
    staged (pre-commit hides unstaged edits from the hooks)."""
    path = project / ".copier-answers.yml"
    text, count = re.subn(rf"^{key}: .*$", f"{key}: {value}", path.read_text(), flags=re.M)
    assert count == 1
    path.write_text(text)
    run(["git", "add", path.name], project)


def hook_output(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines a pre-commit hook printed (after pre-commit's own header)."""
    lines = said(done).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("- exit code:")) + 1
    return [line for line in lines[start:] if line.strip()]


def test_an_unreachable_template_source_stops_with_one_line_and_changes_nothing(
    tmp_path: Path,
) -> None:
    upstream = git_snapshot(TEMPLATE, tmp_path / "upstream", tag="v1")
    project = generate_committed(upstream, tmp_path / "my-service", "v1")
    (tmp_path / "plain").mkdir()
    env = user_env()
    set_cells(project, ["notes", "billing"])
    hook = ["uv", "run", "pre-commit", "run", "cellforge-regenerate"]
    cases = [
        ("_src_path", ".", [], "is the relative path '.'"),
        ("_src_path", str(tmp_path / "gone"), [], "does not exist"),
        ("_src_path", str(tmp_path / "plain"), [], "is not a git repository"),
        ("_commit", "v9", [], "has no version 'v9'"),
        ("_src_path", ".", ["--template-ref", "v1"], "is the relative path '.'"),
        ("_src_path", str(upstream), ["--template-ref", "v9"], "has no version 'v9'"),
    ]
    for key, value, ref, reason in cases:
        original = re.search(rf"^{key}: (.*)$", (project / ".copier-answers.yml").read_text(), re.M)
        assert original
        set_answer(project, key, value)
        before = worktree_state(project)
        direct = run([*REGENERATE, *ref], project, env, check=False)
        outputs = [(direct, said(direct).splitlines())]
        if not ref:  # the hook runs `regenerate` without a version
            hooked = run(hook, project, env, check=False)
            outputs.append((hooked, hook_output(hooked)))
        for done, lines in outputs:
            assert done.returncode == 1, said(done)
            assert len(lines) == 1 and reason in lines[0], said(done)
            assert lines[0].startswith("cellforge: regeneration stopped, nothing was applied")
            assert "fix: " in lines[0]
        assert worktree_state(project) == before, f"{key}: {value} {ref} changed files"
        set_answer(project, key, original.group(1))

    # The fix the message names: record the clone's path, then commit as usual.
    set_answer(project, "_src_path", ".")
    set_source = [*REGENERATE[:-1], "set-source"]
    refused = run([*set_source, str(tmp_path / "gone")], project, env, check=False)
    assert refused.returncode == 1 and len(said(refused).splitlines()) == 1
    assert "_src_path: .\n" in (project / ".copier-answers.yml").read_text()
    run([*set_source, str(upstream)], project, env)
    assert f"_src_path: {upstream}\n" in (project / ".copier-answers.yml").read_text()
    run(["git", "add", "-A"], project)
    first = commit(project, "add billing", env)
    assert first.returncode == 1 and ADDED in said(first), said(first)
    assert "hand edited" not in said(first) and "by hand" not in said(first)
    run(["git", "add", "-A"], project)
    assert commit(project, "add billing", env).returncode == 0


OUR_HOOKS = ("cellforge-regenerate", "cellforge-owned")


def use_hook_repository(project: Path, repo: Path, rev: str) -> None:
    """docs/regeneration.md's external set-up: our hooks from `repo` at `rev`."""
    path = project / ".pre-commit-config.yaml"
    config = yaml.safe_load(path.read_text())
    for entry in config["repos"]:
        entry["hooks"] = [hook for hook in entry["hooks"] if hook["id"] not in OUR_HOOKS]
    hooks = [{"id": hook} for hook in OUR_HOOKS]
    config["repos"].append({"repo": str(repo), "rev": rev, "hooks": hooks})
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_the_template_works_as_an_external_hook_repository(tmp_path: Path) -> None:
    upstream = git_snapshot(TEMPLATE, tmp_path / "upstream", tag="v1.0.0")
    clone = clone_of(upstream, tmp_path / "cellforge")
    project = generate_committed(clone, tmp_path / "my-service", "v1.0.0")
    env = {**user_env(), "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    use_hook_repository(project, clone, "v1.0.0")
    run(["uv", "add", "--quiet", "--dev", "pre-commit-uv"], project, env)  # as the docs say
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "hooks from the template repository", "--no-verify"], project, env)
    set_cells(project, ["notes", "billing"])

    external = commit(project, "add billing", env)

    assert external.returncode == 1, said(external)
    assert "ModuleNotFoundError" not in said(external)
    assert ADDED in said(external)
    changed = worktree_state(project)
    run(["git", "checkout", "--", "."], project)
    run(["git", "clean", "-fdq"], project)
    local = run(REGENERATE, project, env, check=False)
    assert local.returncode == 1, said(local)
    summary = local.stdout[local.stdout.index("cellforge: re-applied the template") :].strip()
    assert summary in said(external), "the external hook printed another summary"
    assert worktree_state(project) == changed, "the external hook changed other files"

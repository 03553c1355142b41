"""Re-apply the template to a project, with `blueprint.yml` as the data.

The pre-commit hook `cellforge-regenerate` runs this when `blueprint.yml` changes:

1. If the blueprint's hash equals the one recorded at the last apply, stop (fast path).
2. Validate it with the project's own checker; a broken blueprint stops here.
3. `copier update` cannot run in a dirty tree, and a commit in progress is always dirty,
   so the update runs in a scratch worktree of HEAD holding the new blueprint.
4. The update's result comes back as one binary patch, applied to the working tree with
   `git apply` (all or nothing; the index is never touched, so nothing is staged).
   Files the user deleted in an earlier commit are left out: copier would bring them back.
5. Conflicts (copier leaves inline markers and still exits 0) make the hook fail and are
   named; so does any change at all, which is pre-commit's convention for fixers.

Before any of it, the template source recorded in `.copier-answers.yml` is checked
(`source.problem`): one it cannot reach stops the hook with one line naming the fix.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from . import source, state
from .blueprint import answers as blueprint_answers
from .blueprint import read as read_blueprint
from .derived import project_module, refresh
from .gitops import (
    GitError,
    deleted_in_history,
    forget_hook_repository,
    git,
    git_bytes,
    scratch_worktree,
)
from .source import read_answers
from .summary import Summary, describe_cells, describe_contracts, describe_routes

ARCHITECTURE = "docs/architecture.md"
CONTRACTS = ".importlinter"


def validate(project: Path, package: str) -> list[str]:
    """Problems in the blueprint, from the project's own checker (its JSON Schema)."""
    with project_module(project, package, "core.blueprint") as checker:
        problems = checker.check_file(project / state.BLUEPRINT)
    return [f"{state.BLUEPRINT}:{problem}" for problem in problems]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def regenerate(project: Path, template_ref: str | None = None) -> int:
    """Re-apply the template; 0 when nothing changed, 1 on changes, conflicts or errors."""
    forget_hook_repository()
    try:
        return _regenerate(project, template_ref)
    except (GitError, OSError, ValueError, LookupError, UpdateFailed) as error:
        print(f"cellforge: regeneration stopped, nothing was applied: {error}", file=sys.stderr)
        return 1


class UpdateFailed(RuntimeError):
    """Copier cannot re-apply the template: a source it cannot reach, a refused update."""


def _regenerate(project: Path, template_ref: str | None) -> int:
    blueprint = project / state.BLUEPRINT
    recorded = state.load(project).get("blueprint_sha256")
    if template_ref is None and blueprint.exists() and recorded == state.sha256(blueprint):
        print("cellforge: blueprint.yml unchanged since the last apply; nothing to do")
        return 0
    if not git(project, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip():
        print(
            "cellforge: commit the generated project once (with blueprint.yml as generated) "
            "before changing blueprint.yml",
            file=sys.stderr,
        )
        return 1

    answers = read_answers(project)
    package = answers["package_name"]
    problems = validate(project, package)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(
            "cellforge: blueprint.yml is invalid; the template was NOT re-applied", file=sys.stderr
        )
        return 1

    data = blueprint_answers(read_blueprint(blueprint))
    if template_ref is None and all(answers.get(key) == value for key, value in data.items()):
        # Nothing the template reads changed: no re-apply. The files derived from the
        # blueprint (docs, deploy/: thresholds, flags, the image tag) may still follow, and
        # a comment changes none of them, so it costs no extra commit round trip.
        written = refresh(project, package)
        if written is None:  # it said why; the drift check would fail in CI anyway
            return 1
        if written:
            for path in written:
                print(f"cellforge: regenerated {path.relative_to(project)} from blueprint.yml")
            print("cellforge: review the regenerated files, `git add -A` and commit again")
            return 1
        print("cellforge: blueprint.yml changed in nothing the template uses; nothing to do")
        return 0
    recorded = source.recorded(project)
    versions = [str(answers.get("_commit") or ""), *([template_ref] if template_ref else [])]
    unreachable = source.problem(recorded, versions)
    if unreachable:
        raise UpdateFailed(str(unreachable))
    summary = Summary()
    staged = git_bytes(project, "diff", "--cached", "--binary", "HEAD")
    with scratch_worktree(project) as tree:
        before = {name: _text(tree / name) for name in (ARCHITECTURE, CONTRACTS)}
        # Start from what is being committed (the index), not from HEAD: staged cell code
        # and regenerated docs are part of it, and the template's patch must fit on top.
        if staged:
            git(tree, "apply", "--index", "--binary", "-", stdin=staged)
        (tree / state.BLUEPRINT).write_bytes(blueprint.read_bytes())
        # The source just checked is the one copier reads (`set-source` may be unstaged).
        if recorded != source.recorded(tree):
            source.record(tree, str(recorded))
        git(tree, "add", state.BLUEPRINT, source.ANSWERS_FILE)
        git(tree, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", "cellforge: staged")
        base = git(tree, "rev-parse", "HEAD").strip()

        _copier_update(tree, data, template_ref or answers["_commit"])
        conflicted = git(tree, "diff", "--name-only", "--diff-filter=U").split()
        git(tree, "add", "--all")
        dropped = _drop_resurrected(project, tree, base, package)
        # The derived files (docs, deploy/) follow the result, whatever copier or history
        # say: copier re-applies the project's difference from a scratch render that
        # holds none (so a demoted cell's worker would come back), and a derived file
        # deleted once (a cell demoted earlier) is not a template file the user deleted.
        refresh(tree, package)
        git(tree, "add", "--all")
        summary.kept_deleted = [path for path in dropped if not (tree / path).exists()]
        patch = git_bytes(tree, "diff", "--cached", "--binary", base)
        for line in git(tree, "diff", "--cached", "--name-status", base).splitlines():
            status, path = line.split("\t", 1)
            {"A": summary.added, "D": summary.deleted}.get(status[0], summary.changed).append(path)
        after = {name: _text(tree / name) for name in (ARCHITECTURE, CONTRACTS)}

    summary.conflicted = sorted(conflicted)
    if patch:
        try:
            git(project, "apply", "--binary", "--whitespace=nowarn", "-", stdin=patch)
        except GitError as error:
            print(f"cellforge: could not apply the template's changes: {error}", file=sys.stderr)
            print(
                "cellforge: nothing was changed in your working tree. Your unstaged edits "
                "overlap the files the template changes: commit or stash them (or `git add` "
                "them), then commit again",
                file=sys.stderr,
            )
            return 1

    old_cells = list(answers.get("cells", []))
    orphans = [c for c in old_cells if c not in data["cells"] and _cell_dir(project, package, c)]
    created = [c for c in data["cells"] if f"src/{package}/cells/{c}/__init__.py" in summary.added]
    summary.lines += describe_cells(old_cells, data["cells"], package, orphans, created)
    summary.lines += describe_routes(before[ARCHITECTURE], after[ARCHITECTURE])
    summary.lines += describe_contracts(before[CONTRACTS], after[CONTRACTS])
    print(summary.render())
    if summary.conflicted:
        print(
            "cellforge: CONFLICTS in " + ", ".join(summary.conflicted) + ": resolve the "
            "<<<<<<< markers (your edits met the template's), then commit again",
            file=sys.stderr,
        )
        return 1
    if summary.any_change:
        print("cellforge: review the changes, `git add` them and commit again")
        return 1
    return 0


def _copier_update(tree: Path, data: dict[str, Any], version: str) -> None:
    import copier
    from copier.errors import CopierError
    from plumbum import ProcessExecutionError

    try:
        copier.run_update(
            tree,
            data=data,
            defaults=True,
            overwrite=True,
            unsafe=True,
            quiet=True,
            vcs_ref=version,
            conflict="inline",
        )
    except ProcessExecutionError as error:  # git, fetching the template
        said = str(error.stderr).strip().splitlines() or [str(error.argv)]
        raise UpdateFailed(f"{said[-1]}; fix: `{source.SET_SOURCE}`") from error
    except CopierError as error:
        raise UpdateFailed(" ".join(str(error).split())) from error


def _cell_dir(project: Path, package: str, cell: str) -> bool:
    return (project / "src" / package / "cells" / cell).is_dir()


def _drop_resurrected(project: Path, tree: Path, base: str, package: str) -> list[str]:
    """Unstage and delete template files the update re-created although the user deleted
    them. Cells are not the template's: a cell listed in the blueprint again is meant."""
    added = git(tree, "diff", "--cached", "--name-only", "--diff-filter=A", base).split()
    gone = deleted_in_history(project)
    users = (f"src/{package}/cells/", "tests/cells/")
    dropped = [
        path
        for path in added
        if path in gone and not path.startswith(users) and not (project / path).exists()
    ]
    for path in dropped:
        git(tree, "rm", "--cached", "--quiet", "--", path)
        (tree / path).unlink()
    return dropped

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Re-apply the template to a project, with `blueprint.yml` as the data.

The pre-commit hook `cellforge-regenerate` runs this when `blueprint.yml` changes.
`_regenerate` is these steps, one function each, in this order:

1. `_blueprint_unchanged`: if the blueprint's hash equals the one recorded at the last
   apply, stop (fast path). The project needs a commit (`_has_commit`): step 3 starts
   from HEAD.
2. `_blueprint_valid`: validate it with the project's own checker; a broken blueprint
   stops here. If nothing the template reads changed, only the files derived from the
   blueprint follow (`_follow_derived_files`) and the hook stops there.
3. `_update_in_scratch_worktree`: `copier update` cannot run in a dirty tree, and a
   commit in progress is always dirty, so the update runs in a scratch worktree of HEAD
   holding what is being committed and the new blueprint. Its result is one binary
   patch. Files the user deleted in an earlier commit are left out: copier would bring
   them back. Before it, `_checked_source` checks the template source recorded in
   `.copier-answers.yml` (`source.problem`): one it cannot reach stops the hook with one
   line naming the fix.
4. `_apply_patch`: the patch goes to the working tree with `git apply` (all or nothing;
   the index is never touched, so nothing is staged).
5. `_report`: says what changed. Conflicts (copier leaves inline markers and still exits
   0) make the hook fail and are named; so does any change at all, which is
   pre-commit's convention for fixers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import source, state
from .blueprint import answers as blueprint_answers
from .blueprint import read as read_blueprint
from .derived import project_module, refresh
from .git import GitError, git, output
from .gitops import IDENTITY, deleted_in_history, forget_hook_repository, scratch_worktree
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


@dataclass
class Update:
    """One re-apply: the project, what the template was given before (`answers`) and is
    given now (`data`), and what came back from the scratch worktree."""

    project: Path
    answers: dict[str, Any]
    data: dict[str, Any]
    summary: Summary = field(default_factory=Summary)
    patch: bytes = b""
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)

    @property
    def package(self) -> str:
        return str(self.answers["package_name"])


def _regenerate(project: Path, template_ref: str | None) -> int:
    """The module docstring's steps, in order; each returns early with the exit status."""
    if template_ref is None and _blueprint_unchanged(project):  # 1
        return 0
    if not _has_commit(project):
        return 1
    answers = read_answers(project)
    if not _blueprint_valid(project, answers["package_name"]):  # 2
        return 1
    data = blueprint_answers(read_blueprint(project / state.BLUEPRINT))
    update = Update(project, answers, data)
    if template_ref is None and all(answers.get(key) == value for key, value in data.items()):
        return _follow_derived_files(update)
    version = _checked_source(update, template_ref)
    _update_in_scratch_worktree(update, version)  # 3
    if not _apply_patch(update):  # 4
        return 1
    return _report(update)  # 5


def _blueprint_unchanged(project: Path) -> bool:
    """Step 1: the blueprint hashes as it did at the last apply (the fast path)."""
    blueprint = project / state.BLUEPRINT
    recorded = state.load(project).get("blueprint_sha256")
    if blueprint.exists() and recorded == state.sha256(blueprint):
        print("cellforge: blueprint.yml unchanged since the last apply; nothing to do")
        return True
    return False


def _has_commit(project: Path) -> bool:
    """The scratch worktree starts from HEAD, so there must be one."""
    if git(project, "rev-parse", "--verify", "--quiet", "HEAD").stdout.strip():
        return True
    print(
        "cellforge: commit the generated project once (with blueprint.yml as generated) "
        "before changing blueprint.yml",
        file=sys.stderr,
    )
    return False


def _blueprint_valid(project: Path, package: str) -> bool:
    """Step 2: the project's own checker; a broken blueprint stops here."""
    problems = validate(project, package)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(
            "cellforge: blueprint.yml is invalid; the template was NOT re-applied", file=sys.stderr
        )
    return not problems


def _follow_derived_files(update: Update) -> int:
    """Nothing the template reads changed: no re-apply. The files derived from the
    blueprint (docs, deploy/: thresholds, flags, the image tag) may still follow, and a
    comment changes none of them, so it costs no extra commit round trip."""
    written = refresh(update.project, update.package)
    if written is None:  # it said why; the drift check would fail in CI anyway
        return 1
    if written:
        for path in written:
            print(f"cellforge: regenerated {path.relative_to(update.project)} from blueprint.yml")
        print("cellforge: review the regenerated files, `git add -A` and commit again")
        return 1
    print("cellforge: blueprint.yml changed in nothing the template uses; nothing to do")
    return 0


def _checked_source(update: Update, template_ref: str | None) -> str:
    """Before the update: the recorded template source has the version to apply (and the
    one recorded, which copier diffs against). Returns the version to apply."""
    versions = [str(update.answers.get("_commit") or ""), *([template_ref] if template_ref else [])]
    unreachable = source.problem(source.recorded(update.project), versions)
    if unreachable:
        raise UpdateFailed(str(unreachable))
    return template_ref or str(update.answers["_commit"])


def _update_in_scratch_worktree(update: Update, version: str) -> None:
    """Step 3: `copier update` in a scratch worktree of HEAD that holds what is being
    committed and the new blueprint; its result is kept as one binary patch."""
    project, package = update.project, update.package
    staged = git(project, "diff", "--cached", "--binary", "HEAD").checked().data
    with scratch_worktree(project) as tree:
        update.before = {name: _text(tree / name) for name in (ARCHITECTURE, CONTRACTS)}
        base = _commit_what_is_committed(project, tree, staged)
        _copier_update(tree, update.data, version)
        conflicted = output(tree, "diff", "--name-only", "--diff-filter=U").split()
        output(tree, "add", "--all")
        dropped = _drop_resurrected(project, tree, base, package)
        # The derived files (docs, deploy/) follow the result, whatever copier or history
        # say: copier re-applies the project's difference from a scratch render that
        # holds none (so a demoted cell's worker would come back), and a derived file
        # deleted once (a cell demoted earlier) is not a template file the user deleted.
        refresh(tree, package)
        output(tree, "add", "--all")
        update.summary.kept_deleted = [path for path in dropped if not (tree / path).exists()]
        update.summary.conflicted = sorted(conflicted)
        update.patch = git(tree, "diff", "--cached", "--binary", base).checked().data
        _list_changes(update.summary, output(tree, "diff", "--cached", "--name-status", base))
        update.after = {name: _text(tree / name) for name in (ARCHITECTURE, CONTRACTS)}


def _commit_what_is_committed(project: Path, tree: Path, staged: bytes) -> str:
    """Start from what is being committed (the index), not from HEAD: staged cell code and
    regenerated docs are part of it, and the template's patch must fit on top. Returns the
    scratch commit the update's result is compared with."""
    if staged:
        output(tree, "apply", "--index", "--binary", "-", stdin=staged)
    (tree / state.BLUEPRINT).write_bytes((project / state.BLUEPRINT).read_bytes())
    # The source just checked is the one copier reads (`set-source` may be unstaged).
    recorded = source.recorded(project)
    if recorded != source.recorded(tree):
        source.record(tree, str(recorded))
    output(tree, "add", state.BLUEPRINT, source.ANSWERS_FILE)
    message = ("-m", "cellforge: staged")
    output(tree, *IDENTITY, "commit", "--quiet", "--allow-empty", "--no-verify", *message)
    return output(tree, "rev-parse", "HEAD").strip()


def _list_changes(summary: Summary, name_status: str) -> None:
    for line in name_status.splitlines():
        status, path = line.split("\t", 1)
        {"A": summary.added, "D": summary.deleted}.get(status[0], summary.changed).append(path)


def _apply_patch(update: Update) -> bool:
    """Step 4: the patch, applied to the working tree with `git apply` (all or nothing;
    the index is never touched, so nothing is staged)."""
    if not update.patch:
        return True
    patch = ("apply", "--binary", "--whitespace=nowarn", "-")
    applied = git(update.project, *patch, stdin=update.patch)
    if applied.ok:
        return True
    said = applied.stderr.strip()
    print(f"cellforge: could not apply the template's changes: {said}", file=sys.stderr)
    print(
        "cellforge: nothing was changed in your working tree. Your unstaged edits "
        "overlap the files the template changes: commit or stash them (or `git add` "
        "them), then commit again",
        file=sys.stderr,
    )
    return False


def _report(update: Update) -> int:
    """Step 5: say what changed (files, cells, routes, contracts); conflicts, and any
    change at all, fail the hook (pre-commit's convention for fixers)."""
    summary, package, cells = update.summary, update.package, update.data["cells"]
    old_cells = list(update.answers.get("cells", []))
    orphans = [c for c in old_cells if c not in cells and _cell_dir(update.project, package, c)]
    created = [c for c in cells if f"src/{package}/cells/{c}/__init__.py" in summary.added]
    summary.lines += describe_cells(old_cells, cells, package, orphans, created)
    summary.lines += describe_routes(update.before[ARCHITECTURE], update.after[ARCHITECTURE])
    summary.lines += describe_contracts(update.before[CONTRACTS], update.after[CONTRACTS])
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
    # Imported here, after `forget_hook_repository`: plumbum (copier's process library)
    # copies `os.environ` when it is imported, and a git hook's GIT_INDEX_FILE kept in
    # that copy would send copier's own git calls to the project's index.
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
    added = output(tree, "diff", "--cached", "--name-only", "--diff-filter=A", base).split()
    gone = deleted_in_history(project)
    users = (f"src/{package}/cells/", "tests/cells/")
    dropped = [
        path
        for path in added
        if path in gone and not path.startswith(users) and not (project / path).exists()
    ]
    for path in dropped:
        output(tree, "rm", "--cached", "--quiet", "--", path)
        (tree / path).unlink()
    return dropped

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The commit that semdiff judges the working tree against: what the project promised.

A public API is a promise once it is released; before that, the promise is the default
branch, which the rest of the team builds on. So the baseline is, in this order:

1. the ref asked for (`--base REF`, else `genops.base_ref`): the merge base of `HEAD`
   with it, taken as is;
2. the last release: of the release tags reachable from `HEAD`, the highest version. A
   release tag is named like a final version, numbers joined by dots with an optional
   leading `v` (`v1.2.3`, `1.2`, `v2`); a pre-release (`v2.0.0rc1`, `1.0.0-beta`) promises
   nothing yet, and any other tag is not a release. A release tag on `HEAD` itself, with
   a clean working tree, is skipped: that release is judged against the one before it;
3. the merge base of `HEAD` with the default branch. The default branch is the remote's
   `HEAD` (`refs/remotes/origin/HEAD`, which `git clone` and `git remote set-head`
   write), else the branch that git names new repositories after (`init.defaultBranch`),
   else the only branch of a repository that has no remote branches. No name is assumed.

On the default branch itself, before its first release, `HEAD` is its own merge base:
there is no API that anyone was promised, so API breaks are not judged (an API made and
reshaped there is the team's work in progress). The gate still lists what changed: the
uncommitted changes, or on a clean working tree the last commit (against `HEAD^`).

Every git call here only reads the repository.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..core.git import git

RELEASE_TAG = re.compile(r"v?(\d+(?:\.\d+)*)")
NO_API_YET = "no release tag yet, so no API to break"


@dataclass(frozen=True)
class Baseline:
    """The commit to compare with (None: there is none), how it was chosen (said in the
    verdict), and whether public API breaks are judged against it."""

    commit: str | None
    label: str
    judges_api: bool = True


def commit_of(root: Path, ref: str) -> str | None:
    found = git(root, "rev-parse", "--verify", "--quiet", ref + "^{commit}")
    return found.stdout.strip() if found.returncode == 0 else None


def clean(root: Path) -> bool:
    """No change in the working tree or the index, and no untracked file."""
    status = git(root, "status", "--porcelain", "-z", "--untracked-files=normal")
    return status.returncode == 0 and not status.stdout


def find_baseline(root: Path, asked: str | None) -> Baseline:
    """The baseline of the repository at `root`; see the module docstring."""
    if shutil.which("git") is None:
        return Baseline(None, "git not found: nothing to compare with")
    head = commit_of(root, "HEAD")
    if head is None:
        return Baseline(None, "not a git repository with a commit: nothing to compare with")
    if asked:
        commit = commit_of(root, asked)
        if commit is None:
            return Baseline(None, f"base ref {asked!r} not found: nothing to compare with")
        base = merge_base(root, commit) or commit
        return Baseline(base, f"merge base with {asked} ({base[:8]})")
    is_clean = clean(root)
    release = last_release(root, head, skip_head=is_clean)
    if release is not None:
        tag, commit = release
        return Baseline(commit, f"last release {tag} ({commit[:8]})")
    branch, why_not = default_branch(root)
    if branch is None:
        return Baseline(None, f"{why_not}: nothing to compare with; set genops.base_ref")
    shown = branch.removeprefix("refs/heads/").removeprefix("refs/remotes/")
    branch_commit = commit_of(root, branch)
    assert branch_commit is not None  # default_branch only names refs that exist
    base = merge_base(root, branch_commit) or branch_commit
    if base != head:
        return Baseline(base, f"merge base with {shown} ({base[:8]})")
    parent = commit_of(root, "HEAD^")
    if is_clean and parent is not None:
        label = f"last commit of {shown}, base HEAD^ ({parent[:8]}); {NO_API_YET}"
        return Baseline(parent, label, judges_api=False)
    return Baseline(head, f"HEAD on {shown} ({head[:8]}); {NO_API_YET}", judges_api=False)


def merge_base(root: Path, commit: str) -> str | None:
    found = git(root, "merge-base", "HEAD", commit)  # fails on unrelated histories
    return found.stdout.strip() if found.returncode == 0 else None


def last_release(root: Path, head: str, skip_head: bool) -> tuple[str, str] | None:
    """The highest release tag reachable from HEAD and its commit (None: no release)."""
    listed = git(
        root,
        "for-each-ref",
        "--merged=HEAD",
        "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)",
        "refs/tags",
    )
    best: tuple[tuple[tuple[int, ...], str], str] | None = None
    for line in listed.stdout.splitlines():
        name, target, peeled = line.split("\0")
        version = RELEASE_TAG.fullmatch(name)
        commit = peeled or target  # an annotated tag points at its commit through itself
        if version is None or (skip_head and commit == head):
            continue
        numbers = [int(part) for part in version.group(1).split(".")]
        while len(numbers) > 1 and numbers[-1] == 0:
            numbers.pop()  # 1.2 and 1.2.0 are one version
        key = (tuple(numbers), name)
        if best is None or key > best[0]:
            best = (key, commit)
    return (best[0][1], best[1]) if best else None


def default_branch(root: Path) -> tuple[str | None, str]:
    """The default branch as a full ref name, or None and why none was found."""
    remotes = git(root, "remote").stdout.split()
    remotes.sort(key=lambda name: (name != "origin", name))  # origin first
    for remote in remotes:
        head = git(root, "symbolic-ref", "--quiet", f"refs/remotes/{remote}/HEAD")
        if head.returncode == 0 and commit_of(root, head.stdout.strip()):
            return head.stdout.strip(), ""
    named = git(root, "var", "GIT_DEFAULT_BRANCH")  # init.defaultBranch, else git's own
    if named.returncode != 0:  # an older git
        named = git(root, "config", "--get", "init.defaultBranch")
    name = named.stdout.strip()
    if name:
        for ref in [f"refs/heads/{name}"] + [f"refs/remotes/{r}/{name}" for r in remotes]:
            if commit_of(root, ref):
                return ref, ""
    local = git(root, "for-each-ref", "--format=%(refname)", "refs/heads").stdout.split()
    tracking = git(root, "for-each-ref", "--format=%(refname)", "refs/remotes").stdout.split()
    if len(local) == 1 and not tracking:
        return local[0], ""
    which = f"no branch {name!r} (init.defaultBranch)" if name else "no init.defaultBranch"
    return None, f"no default branch: no remote HEAD, {which}, {len(local)} local branches"

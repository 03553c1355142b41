# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Where the template comes from: `_src_path` in `.copier-answers.yml`.

Copier records the source as it was typed and resolves it again on every update,
against the directory the update runs in. The README's `copier copy ... . ../my-service`
records `.`, which later points into the project itself: the update then reads the
project as its template and fails with "Unknown revision" or a traceback. Hence:

- the post-render task replaces a relative local source with the absolute one, and
  says so (for a git template copier renders from a temporary clone, whose `origin`
  is the source as an absolute path);
- before every re-apply, `problem()` checks the recorded source (it exists, is a git
  repository, has the versions the update needs), so the hook and `regenerate` stop
  with one line that names the fix instead of a copier traceback, and change nothing;
- `set-source` records a new source (a moved clone, a URL).

Remote sources (URLs) are left to git: checking one needs the network.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from .git import git

ANSWERS_FILE = ".copier-answers.yml"
KEY = "_src_path"
SET_SOURCE = "uv run python .cellforge set-source PATH-OR-URL"
# A scheme (`gh:`, `https:`, `git+ssh:`, `file:`) or scp-like `user@host:`: not a path.
REMOTE = re.compile(r"^([A-Za-z][\w+.-]*:|[\w.-]+@[\w.-]+:)")
RECORDED_LINE = re.compile(rf"^{KEY}:.*$", re.MULTILINE)


class Problem(NamedTuple):
    """Why the recorded source cannot be used, and the command or step that fixes it."""

    reason: str
    fix: str
    missing_version: str | None = None

    def __str__(self) -> str:
        return f"{self.reason}; fix: {self.fix}"


def is_remote(source: str) -> bool:
    return bool(REMOTE.match(source))


def is_relative_path(source: str) -> bool:
    return not is_remote(source) and not source.startswith("~") and not os.path.isabs(source)


def read_answers(project: Path) -> dict[str, Any]:
    # optional integration: pyyaml (post-render also runs as `python -S`, without it)
    import yaml

    answers: dict[str, Any] = yaml.safe_load((project / ANSWERS_FILE).read_text("utf-8")) or {}
    return answers


def recorded(project: Path) -> str | None:
    value = read_answers(project).get(KEY)
    return str(value) if value else None


def recorded_version(project: Path) -> list[str]:
    """The template version the project was last rendered from (`_commit`), if any."""
    commit = read_answers(project).get("_commit")
    return [str(commit)] if commit else []


def record(project: Path, source: str) -> None:
    """Rewrite the `_src_path` line only: the rest of copier's file stays byte for byte."""
    # optional integration: pyyaml (post-render also runs as `python -S`, without it)
    import yaml

    path = project / ANSWERS_FILE
    text = path.read_text(encoding="utf-8")
    line = yaml.safe_dump({KEY: source}, width=float("inf")).strip()
    updated, count = RECORDED_LINE.subn(lambda _: line, text, count=1)
    if not count:
        raise LookupError(f"{ANSWERS_FILE} has no {KEY} line to rewrite")
    path.write_text(updated, encoding="utf-8")


def origin_of(rendered_from: Path) -> str:
    """The source copier read, given the folder it rendered from (`_copier_conf.src_path`).

    For a git template that folder is copier's clone (`git clone -- SOURCE TMP`), whose
    `origin` holds SOURCE made absolute; a plain folder is its own source.
    """
    folder = rendered_from.resolve()
    if _git_root(folder) == folder:
        url = git(folder, "config", "--get", "remote.origin.url").stdout.strip()
        if url:
            return url if is_remote(url) else os.path.normpath(url)
    return str(folder)


def problem(source: str | None, versions: list[str]) -> Problem | None:
    """Why `source` cannot give copier the template at each of `versions`, if it cannot."""
    fix = f"record where the template is: `{SET_SOURCE}`"
    if not source:
        return Problem(f"{ANSWERS_FILE} records no template source ({KEY})", fix)
    if is_remote(source):
        return None
    if is_relative_path(source):
        return Problem(
            f"the template source in {ANSWERS_FILE} is the relative path {source!r}, "
            "which copier resolves inside this project",
            fix,
        )
    path = Path(source).expanduser()
    if path.is_file() and path.suffix == ".bundle":
        return None  # a git bundle: copier clones it as it is
    if not path.is_dir():
        return Problem(f"the template source {source} does not exist", fix)
    if _git_root(path) != path.resolve():
        return Problem(f"the template source {source} is not a git repository", fix)
    for version in versions:
        if not version:
            return Problem(f"{ANSWERS_FILE} records no template version (_commit)", fix)
        if not has_version(path, version):
            return Problem(
                f"the template source {source} has no version {version!r}",
                f"`git -C {source} fetch --tags`, or `{SET_SOURCE}` for a clone that has it",
                version,
            )
    return None


def has_version(repository: Path, version: str) -> bool:
    revision = f"{version}^{{commit}}"
    found = git(repository, "rev-parse", "--verify", "--quiet", revision)
    return bool(found.stdout.strip())


def _git_root(folder: Path) -> Path | None:
    top = git(folder, "rev-parse", "--show-toplevel").stdout.strip()
    return Path(top).resolve() if top else None

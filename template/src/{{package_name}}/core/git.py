# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""One way to ask git, shared by the runbooks, the genops gates and the template's hooks.

`git(cwd, *args)` runs `git` and returns its answer; it never raises, not even without
git (a container image has none): that answer is a failure (127), as outside a repository.
`output(cwd, *args)` is the strict form for a step that cannot go on when git fails: the
text of a successful answer, else `GitError` with git's own message.

This file is in two places, byte for byte: here, for the project's code, and as
`.cellforge/cellforge_hooks/git.py`, for the hooks (in the template repository
`hooks/cellforge_hooks/git.py` is a symbolic link to this file, which copier copies as a
file). The hooks cannot import the project's package: at `copier copy` they run in
copier's interpreter from the template, before the project exists, and in a project they
run before its code is validated. The project cannot import the hooks either: the
Docker image holds `src/` only. One source, two copies made by the template, checked
equal by the template's tests. So it imports only the standard library.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

NOT_FOUND = 127  # what a shell answers for a missing command


class GitError(RuntimeError):
    """git failed where the caller cannot go on; the message is git's."""


@dataclass(frozen=True)
class Answer:
    """What git said: its exit status, its output as bytes (`data`) and as text."""

    args: tuple[str, ...]
    returncode: int
    data: bytes
    error: bytes = b""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def stdout(self) -> str:
        # Paths and commit messages are UTF-8 in practice; a stray byte must not crash.
        return self.data.decode("utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.error.decode("utf-8", errors="replace")

    def checked(self) -> Answer:
        """This answer, or `GitError` when git failed."""
        if not self.ok:
            raise GitError(f"git {' '.join(self.args)} failed: {self.stderr.strip()}")
        return self


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> Answer:
    """git's answer in `cwd`; without git, a failure."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True)
    except FileNotFoundError:
        return Answer(args, NOT_FOUND, b"", b"git: not found")
    return Answer(args, done.returncode, done.stdout, done.stderr)


def output(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    """The text git printed, or `GitError` when it failed."""
    return git(cwd, *args, stdin=stdin).checked().stdout

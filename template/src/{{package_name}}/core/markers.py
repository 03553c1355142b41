# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The ownership marker: the first line of every template-owned file names its owner.

As in projen, a reader who opens a file learns at once that the template owns it and what
to change instead; `check-owned` reads the marker, so a marker removed from an owned file,
or put on a file the template did not write, is caught like a hand edit.

Two wordings share one opening, `OWNER`, which is what the checks look for:
- `RENDERED`, in the files the template renders: change blueprint.yml or the template;
- `derived(prog)`, in the files `explain` writes from the code: change the code, re-run it.

Each is written in its file's comment syntax (`SYNTAX`, `NAMES`). The writers of the
files `explain` writes (runbook pages, docs, `.importlinter`, deploy files) open their
text with `derived_line` themselves, so what a renderer returns is the file, byte for
byte: its tests, `explain` and `explain --check` compare one text. Where line 1 must stay
what it is (a shebang, a Dockerfile `# syntax=` directive, a `# yaml-language-server`
modeline: `KEEP_FIRST`) the marker is line 2. Files with no comment syntax, and files
that the template copies into user-owned places, are exempt by name (`EXEMPT`, each with
its reason).

This file is in two places, byte for byte: here, in core/ (the ground every renderer
may import: ops/ and genops/ cannot import explain/), and as
`.cellforge/cellforge_hooks/markers.py`, for `check-owned` (in the template repository
`hooks/cellforge_hooks/markers.py` is a symbolic link to this file). The hooks cannot
import the project's package, nor the project the hooks, so it imports only the
standard library.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import PurePosixPath

OWNER = "Owned by the Cellforge template:"
RENDERED = f"{OWNER} change blueprint.yml or the template, not this file."


def derived(prog: str) -> str:
    """The wording in the files `explain` writes (they follow the code, not the template)."""
    return f"{OWNER} `{prog} explain` writes it from the code and blueprint.yml; change those."


HASH = ("# ", "")
HTML = ("<!-- ", " -->")
SYNTAX: dict[str, tuple[str, str]] = {
    ".py": HASH,
    ".pyi": HASH,
    ".yml": HASH,
    ".yaml": HASH,
    ".toml": HASH,
    ".cfg": HASH,
    ".ini": HASH,
    ".sh": HASH,
    ".md": HTML,
    ".html": HTML,
}
NAMES: dict[str, tuple[str, str]] = {
    "Dockerfile": HASH,
    ".gitignore": HASH,
    ".dockerignore": HASH,
    ".importlinter": HASH,
}
KEEP_FIRST = ("#!", "# syntax=", "# yaml-language-server:", "# -*- coding")
# Template-owned paths (fnmatch patterns; `*` crosses folders) that carry no marker.
EXEMPT: dict[str, str] = {
    "*.bpf": "binary seccomp programs, loaded byte for byte",
    "*.json": (
        "JSON has no comments, and a key would be data to its readers (the seccomp "
        "loader, AsyncAPI tools); the hash file and `explain --check` guard them"
    ),
    ".cellforge/cellforge_hooks/skeletons/*": (
        "cell skeletons: copied once into cells/ and tests/cells/, which are the user's"
    ),
    "tests/cellforge/fixtures/blueprint.yml": (
        "copied by the framework's tests into a project as its (user-owned) blueprint"
    ),
    "tests/cellforge/fixtures/memos/*": "copied by the framework's tests into cells/",
    "tests/cellforge/fixtures/project_tests/*": "copied by the framework's tests into tests/",
}


def exemption(path: str) -> str | None:
    """Why the file at project path `path` carries no marker; None when it must."""
    for pattern, reason in EXEMPT.items():
        if fnmatchcase(path, pattern):
            return reason
    return None


def syntax(path: str) -> tuple[str, str] | None:
    """The comment opening and closing for `path` (a `.jinja` or `.tmpl` source too)."""
    name = PurePosixPath(path.removesuffix(".jinja").removesuffix(".tmpl")).name
    return NAMES.get(name) or SYNTAX.get(PurePosixPath(name).suffix)


def marker_line(path: str, wording: str = RENDERED) -> str:
    comment = syntax(path)
    if comment is None:
        raise ValueError(f"{path}: no comment syntax known; name it in EXEMPT with a reason")
    return f"{comment[0]}{wording}{comment[1]}"


def derived_line(path: str, prog: str) -> str:
    """The first line of a file `explain` writes at `path` (its marker, no newline)."""
    return marker_line(path, derived(prog))


def has_marker(text: str) -> bool:
    """True when one of the first two lines is a marker (line 2 after a `KEEP_FIRST`)."""
    return any(OWNER in line for line in text.splitlines()[:2])


def with_marker(path: str, text: str, wording: str = RENDERED) -> str:
    """`text` opening with the marker: added, or refreshed in place (idempotent)."""
    lines = text.splitlines(keepends=True)
    head = [line for line in lines[:2] if OWNER not in line]
    lines = head + lines[2:]
    at = 1 if lines and lines[0].startswith(KEEP_FIRST) else 0
    lines.insert(at, marker_line(path, wording) + "\n")
    return "".join(lines)

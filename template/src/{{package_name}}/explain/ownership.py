# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Who owns which path, said where people look: in each file and in docs/architecture.md.

Each writer of a file `explain` writes opens it with the ownership marker itself
(`core.markers.derived_line`); JSON has no comments and stays as it is (`EXEMPT`).
`ownership_lines` is the "Ownership" section of docs/architecture.md: the template's
paths, the files `explain` writes, the user's paths and the shared root files. The
`AGENTS.md` in each cell's folder is the one file `explain` writes among the user's.

`TEMPLATE_OWNED` says what the hooks' `owned_by_template` says (the hash file and
`check-owned` use that one; the hooks cannot be imported from here): the template's tests
check that the two lists agree.
"""

from __future__ import annotations

from ..core.names import PACKAGE, PROG

TEMPLATE_OWNED = (
    f"src/{PACKAGE}/",
    "tests/cellforge/",
    ".github/",
    ".cellforge/",
    "deploy/",
    "docs/sandbox.md",
    ".copier-answers.yml",
)
CELL_AGENTS = f"src/{PACKAGE}/cells/<name>/AGENTS.md"  # in each cell's folder
GENERATED = (
    "docs/",
    "deploy/compose.yaml",
    "deploy/k8s/",
    ".importlinter",
    f"src/{PACKAGE}/core/blueprint.schema.json",
    "AGENTS.md",
    CELL_AGENTS,
)
USERS = ("blueprint.yml", f"src/{PACKAGE}/cells/", "tests/")
SHARED = (
    "pyproject.toml",
    "README.md",
    ".gitignore",
    ".dockerignore",
    ".pre-commit-config.yaml",
    "renovate.json",
    "LICENSE",
)


def _code(paths: tuple[str, ...]) -> str:
    return ", ".join(f"`{path}`" for path in paths)


def ownership_lines() -> list[str]:
    """The "Ownership" section's body: one row per owner, and how each path changes."""
    return [
        "Every template-owned file opens with a line saying so (`Owned by the Cellforge",
        "template: ...`); `check-owned` (pre-commit) flags a hand edit, a removed marker and",
        "a marker on a file the template did not write.",
        "",
        "| paths | owner | how they change |",
        "| --- | --- | --- |",
        f"| {_code(TEMPLATE_OWNED)}, except `src/{PACKAGE}/cells/` | the template |"
        " change `blueprint.yml` and commit, or update the template; never by hand |",
        f"| {_code(GENERATED)}, except `docs/sandbox.md` | the template, through `explain` |"
        f" `uv run {PROG} explain` rewrites them from the code; `explain --check` fails"
        " when one drifts |",
        f"| {_code(USERS)}, except `tests/cellforge/` and `{CELL_AGENTS}` | you | edit"
        " freely; the template creates a cell once and never overwrites or deletes it |",
        f"| {_code(SHARED)} | shared | the template wrote them, you edit them, `copier update`"
        " merges the two |",
    ]

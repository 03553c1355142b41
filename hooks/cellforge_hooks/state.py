# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`.cellforge-state.json`: what the template last applied, for fast and honest checks.

- `blueprint_sha256`: the hash of `blueprint.yml` at the last apply. The regenerate hook
  compares it first and exits at once when the blueprint has not changed.
- `owned`: the hash of every file the template renders, as it wrote it. A file whose
  hash differs was edited by hand, which `check-owned` reports: template-owned files
  change by changing `blueprint.yml` or by updating the template, never by hand.
  (The files `explain` derives from the code are not listed: they change with the cells,
  and `explain --check` already keeps them honest.)

The post-render task rewrites this file after every copy and update.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

STATE_FILE = ".cellforge-state.json"
BLUEPRINT = "blueprint.yml"
# A conflict marker starts a line; the same characters inside code (a message that
# mentions markers) are not one.
CONFLICT_MARKER = re.compile(rb"^(<<<<<<<|>>>>>>>) ", re.MULTILINE)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rendered_name(template_path: str, package: str) -> str:
    """Where a file of `template/` lands in the project (a conditional name: its NAME)."""
    relative = template_path.removesuffix(".jinja").replace("{{package_name}}", package)
    relative = relative.replace("{{_copier_conf.answers_file}}", ".copier-answers.yml")
    if "{%" in relative:  # `folder/{% if x %}NAME{% endif %}`
        folder, _, condition = relative.partition("{%")
        relative = folder + condition.split("%}", 1)[1].split("{%", 1)[0]
    return relative


def template_files(folder: Path) -> list[Path]:
    """Every file under `folder`, through symlinked folders (`.cellforge` is one)."""
    found = []
    for root, _dirs, names in os.walk(folder, followlinks=True):
        if "__pycache__" not in root:
            found += [Path(root) / name for name in names if not name.endswith(".pyc")]
    return found


def owned_by_template(package: str) -> tuple[str, ...]:
    """Where the template alone writes (BLUEPRINT.md, "Ownership rules").

    Root files such as `pyproject.toml`, `README.md` and `.gitignore` are shared: the
    template writes them, the team edits them (`uv add` must just work), and
    `copier update` merges the two.
    """
    return (
        f"src/{package}/",
        "tests/cellforge/",
        ".github/",
        ".cellforge/",
        "deploy/",
        "docs/sandbox.md",  # the threat model: the template's, like the sandbox itself
        ".copier-answers.yml",
    )


def owned_paths(project: Path, template_dir: Path, package: str) -> list[str]:
    """Template-owned project paths the template renders, as they exist now."""
    owned, user_owned = owned_by_template(package), (f"src/{package}/cells/", BLUEPRINT)
    paths = set()
    for source in template_files(template_dir):
        paths.add(rendered_name(source.relative_to(template_dir).as_posix(), package))
    return sorted(
        path
        for path in paths
        if path.startswith(owned) and not path.startswith(user_owned) and (project / path).is_file()
    )


def record(
    project: Path, template_dir: Path, package: str, created: list[Path] | None = None
) -> None:
    """Rewrite the state file; `created` are the cell files made from the skeleton now."""
    owned = {}
    for path in owned_paths(project, template_dir, package):
        content = (project / path).read_bytes()
        if CONFLICT_MARKER.search(content):
            continue  # unresolved conflict: the user's to settle, not the template's
        owned[path] = hashlib.sha256(content).hexdigest()
    blueprint = project / BLUEPRINT
    fresh = {}
    for made in created or []:
        for file in [made] if made.is_file() else sorted(made.rglob("*")):
            if file.is_file():
                fresh[file.relative_to(project).as_posix()] = sha256(file)
    state: dict[str, object] = {
        "blueprint_sha256": sha256(blueprint) if blueprint.exists() else None,
        "owned": owned,
        "fresh_skeletons": fresh,
    }
    save(project, state)


def save(project: Path, state: dict[str, object]) -> None:
    (project / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def load(project: Path) -> dict[str, object]:
    path = project / STATE_FILE
    if not path.exists():
        return {}
    loaded: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def hand_edited(project: Path) -> list[str]:
    """Template-owned files whose content differs from what the template wrote.

    A deleted file is not reported: deleting a template file is a deliberate choice
    that the regenerate hook keeps.
    """
    owned = load(project).get("owned", {})
    assert isinstance(owned, dict)
    return sorted(
        path
        for path, digest in owned.items()
        if (project / path).is_file() and sha256(project / path) != digest
    )


def rehash(project: Path, path: str) -> None:
    """Accept `path`'s current content as the template's (a hook command rewrote it)."""
    state = load(project)
    owned = state.get("owned")
    if isinstance(owned, dict) and path in owned:
        owned[path] = sha256(project / path)
        save(project, state)

"""Ownership is visible in the tree: every template-owned file of a generated project opens
with a marker line naming its owner and what to change instead; no file of the user's
carries one; `check-owned` refuses a marker removed from an owned file, or found on a file
the template did not write; and `docs/architecture.md` lists who owns which path."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import copier
import pytest
from cellforge_hooks.derived import project_module
from cellforge_hooks.markers import (
    EXEMPT,
    OWNER,
    RENDERED,
    exemption,
    has_marker,
    marker_line,
    with_marker,
)
from cellforge_hooks.state import owned_by_template

from .conftest import TEMPLATE, git_commit_all, run

PACKAGE = "my_service"
USERS = ("blueprint.yml", f"src/{PACKAGE}/cells/", "tests/")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp("owned") / "my-service"
    copier.run_copy(
        str(TEMPLATE), destination, defaults=True, unsafe=True, vcs_ref="HEAD", quiet=True
    )
    return destination


def files(project: Path) -> list[str]:
    return sorted(
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.parts
    )


def head(path: Path) -> str:
    return "".join(path.read_bytes()[:1024].decode("utf-8", "replace").splitlines(True)[:2])


def generated_paths(project: Path) -> set[str]:
    """What `explain` writes, asked of the project's own code."""
    with project_module(project, PACKAGE, "explain") as explain:
        return {a.path.relative_to(project).as_posix() for a in explain.artifacts(project)}


def is_users(path: str) -> bool:
    return path.startswith(USERS) and not path.startswith("tests/cellforge/")


def test_every_template_owned_file_opens_with_the_marker(project: Path) -> None:
    """Files the template renders carry the rendered wording, the files `explain` writes
    carry theirs (run explain, change the code), and only named exemptions carry none."""
    state = json.loads((project / ".cellforge-state.json").read_text(encoding="utf-8"))
    owned, generated = set(state["owned"]), generated_paths(project)
    assert owned and generated
    unmarked = [p for p in sorted(owned) if not exemption(p) and RENDERED not in head(project / p)]
    assert not unmarked, f"template-owned files without the marker: {unmarked}"
    explain_words = f"{OWNER} `my-service explain` writes it"
    stale = [
        p for p in sorted(generated) if not exemption(p) and explain_words not in head(project / p)
    ]
    assert not stale, f"generated files without the marker: {stale}"
    # The exempt ones are named, each with its reason: the JSON and the binary filters.
    exempt = {p.rsplit(".", 1)[-1] for p in owned | generated if exemption(p)}
    assert {"json", "bpf"} <= exempt, exempt
    # A first line that must stay first keeps its place: the marker is line 2 there.
    dockerfile = (project / "deploy/Dockerfile").read_text(encoding="utf-8").splitlines()
    assert dockerfile[0].startswith("# syntax=") and RENDERED in dockerfile[1]


def test_no_file_outside_the_template_s_carries_the_marker(project: Path) -> None:
    """The user's files (blueprint, cells, tests) and the shared root files have none."""
    state = json.loads((project / ".cellforge-state.json").read_text(encoding="utf-8"))
    theirs = set(state["owned"]) | generated_paths(project)
    marked = [p for p in files(project) if p not in theirs and has_marker(head(project / p))]
    assert not marked, f"files not the template's that carry its marker: {marked}"
    users = [p for p in files(project) if is_users(p)]
    assert "blueprint.yml" in users and any("/cells/notes/" in p for p in users), users


def test_the_marker_is_added_once_in_each_comment_syntax() -> None:
    """Refreshing is idempotent, a shebang or a Dockerfile directive stays line 1, and a
    file type without comments is refused until it is named as an exemption."""
    python = with_marker("src/p/core/bus.py", '"""Doc."""\n')
    assert python == f'# {RENDERED}\n"""Doc."""\n'
    assert with_marker("src/p/core/bus.py", python) == python
    page = with_marker("docs/sandbox.md", "# Title\n")
    assert page.splitlines()[0] == f"<!-- {RENDERED} -->"
    script = with_marker("deploy/run.sh", "#!/bin/sh\necho\n").splitlines()
    assert script[0] == "#!/bin/sh" and script[1] == f"# {RENDERED}"
    docker = with_marker("deploy/Dockerfile.jinja", "# syntax=docker/dockerfile:1\nFROM x\n")
    assert docker.splitlines()[1] == f"# {RENDERED}" and has_marker(docker)
    with pytest.raises(ValueError, match="EXEMPT"):
        marker_line("src/p/data.csv")
    assert exemption("src/p/sandbox/filters/x86_64.bpf") and exemption("docs/asyncapi.json")


def test_the_template_sources_carry_their_markers() -> None:
    """The marker tool finds nothing to add in the template (its sources are up to date)."""
    done = run([sys.executable, "tools/owned_markers.py", "--check"], TEMPLATE, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert EXEMPT, "exemptions are named, each with its reason"


def test_explain_and_the_hooks_share_one_marker_module(project: Path) -> None:
    """The project's code and its vendored hooks read the same marker, byte for byte."""
    ours = project / f"src/{PACKAGE}/core/markers.py"
    assert ours.read_bytes() == (project / ".cellforge/cellforge_hooks/markers.py").read_bytes()


def check_owned(project: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return run([sys.executable, ".cellforge", "check-owned"], project, env, check=False)


def test_check_owned_reads_the_marker_not_only_the_hash_file(project: Path, tmp_path: Path) -> None:
    """A clean project passes; a marker removed from an owned file, a marker put on a
    cell, and a marker on a module the template never wrote are each refused by name."""
    copy = tmp_path / "my-service"
    shutil.copytree(project, copy)
    git_commit_all(copy)
    clean = check_owned(copy)
    assert clean.returncode == 0, clean.stderr
    # The AGENTS.md `explain` writes in a cell's folder carries its marker rightly.
    assert OWNER in head(copy / f"src/{PACKAGE}/cells/notes/AGENTS.md")

    bus = copy / f"src/{PACKAGE}/core/bus.py"
    bus.write_text("".join(bus.read_text(encoding="utf-8").splitlines(True)[1:]))
    handlers = copy / f"src/{PACKAGE}/cells/notes/handlers.py"
    handlers.write_text(f"# {RENDERED}\n" + handlers.read_text(encoding="utf-8"))
    copied = copy / f"src/{PACKAGE}/core/my_helpers.py"
    copied.write_text(f"# {RENDERED}\nHELP = 1\n")

    refused = check_owned(copy)
    assert refused.returncode == 1
    said = {line.split(": ", 1)[0]: line for line in refused.stderr.splitlines()}
    assert "lost its ownership marker" in said[f"src/{PACKAGE}/core/bus.py"]
    assert "your file carries" in said[f"src/{PACKAGE}/cells/notes/handlers.py"]
    assert "did not write it" in said[f"src/{PACKAGE}/core/my_helpers.py"]
    assert len(said) == 3, refused.stderr


def test_the_architecture_page_says_who_owns_which_path(project: Path) -> None:
    """Its "Ownership" section names every template-owned path the hash file covers,
    the files `explain` writes, the user's paths and the shared root files."""
    page = (project / "docs/architecture.md").read_text(encoding="utf-8")
    section = page.split("## Ownership", 1)[1].split("\n## ", 1)[0]
    rows = {row.split(" | ")[1]: row for row in section.splitlines() if row.startswith("| `")}
    template = rows["the template"]
    assert all(f"`{path}`" in template for path in owned_by_template(PACKAGE)), template
    assert all(f"`{path}`" in rows["you"] for path in USERS)
    assert "`pyproject.toml`" in rows["shared"]
    generated = rows["the template, through `explain`"]
    prefixes = re.findall(r"`([^`]+)`", generated.split(", except")[0])
    patterns = [prefix.replace("<name>", "[^/]+") for prefix in prefixes]  # a cell's own
    for path in generated_paths(project):
        assert any(re.match(pattern, path) for pattern in patterns), (path, prefixes)
    assert f"src/{PACKAGE}/cells/notes/AGENTS.md" in generated_paths(project)
    assert f"`src/{PACKAGE}/cells/<name>/AGENTS.md`" in rows["you"].split(" | ")[0]

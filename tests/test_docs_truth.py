"""The documents tell the truth: the architecture page lists exactly the files `explain`
writes (taken from the code of rendered projects), no document cites a file outside the
repository, and the tests' docstrings and comments describe behaviour, not the tracker."""

from __future__ import annotations

import re
from pathlib import Path

import copier
import pytest
from cellforge_hooks.derived import project_module

from .conftest import TEMPLATE

ARCHITECTURE = TEMPLATE / "docs" / "architecture.md"
SECTION = "### What `explain` writes"
BULLET = re.compile(r"^- `([^`]+)`", re.MULTILINE)


def listed_in_the_doc() -> list[str]:
    section = ARCHITECTURE.read_text(encoding="utf-8").split(SECTION, 1)[1]
    return BULLET.findall(re.split(r"\n#{2,3} ", section, maxsplit=1)[0])


def as_pattern(listed: str) -> re.Pattern[str]:
    """`docs/runbooks/<runbook>.md` matches one path segment where `<runbook>` stands."""
    return re.compile("[^/]+".join(map(re.escape, re.split(r"<[a-z]+>", listed))) + "$")


def written_by_explain(project: Path) -> set[str]:
    with project_module(project, "my_service", "explain") as explain:
        return {a.path.relative_to(project).as_posix() for a in explain.artifacts(project)}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """What `explain` writes in two projects: every cell in process, and a placed cell
    (the distributed overlay then gains its transport, worker and gateway patch)."""
    found: set[str] = set()
    for name, placements in (("default", {}), ("placed", {"notes": "redis"})):
        project = tmp_path_factory.mktemp(name) / "my-service"
        copier.run_copy(
            str(TEMPLATE),
            project,
            data={"placements": placements},
            defaults=True,
            unsafe=True,
            vcs_ref="HEAD",
            quiet=True,
        )
        found |= written_by_explain(project)
    return found


def test_the_architecture_doc_lists_every_file_explain_writes(written: set[str]) -> None:
    """Every path `artifacts()` returns matches one entry of the doc's list, and every
    entry matches at least one path: a new generated file, or a dropped one, fails here."""
    listed = listed_in_the_doc()
    assert len(listed) > 10, listed
    patterns = {entry: as_pattern(entry) for entry in listed}
    unlisted = sorted(p for p in written if not any(r.match(p) for r in patterns.values()))
    assert not unlisted, f"explain writes files the doc does not list: {unlisted}"
    stale = [entry for entry, r in patterns.items() if not any(r.match(p) for p in written)]
    assert not stale, f"the doc lists files explain no longer writes: {stale}"


# A citation of something outside the repository: a machine's absolute path (`/home/me/`
# is the docs' example of a user's clone, not a citation), the shared planning folder, a
# source note, or a relative path that climbs out of the repository.
OUTSIDE = re.compile(
    r"(?<![\w.~-])/(?:work/|home/(?!me/)|Users/|root/|mnt/)"
    r"|\.\./shared/"
    r"|\b\d{3}_[0-9a-f]{16}\.txt\b"
)
CLIMB = re.compile(r"(?:\.\./)+[\w./-]*\.(?:md|txt|py|ya?ml|json|toml)\b")


def documents() -> list[Path]:
    found = [TEMPLATE / "README.md", *sorted((TEMPLATE / "docs").rglob("*.md"))]
    for pattern in ("*.md", "*.md.jinja"):
        found += sorted((TEMPLATE / "template").rglob(pattern))
    return found


def outside_citations(document: Path, text: str) -> list[str]:
    """The citations in `text` (of `document`) that point outside the repository."""
    found = [match.group() for match in OUTSIDE.finditer(text)]
    root = TEMPLATE.resolve()
    for match in CLIMB.finditer(text):
        target = (document.parent / match.group()).resolve()
        if not target.is_relative_to(root):
            found.append(match.group())
    return found


def test_the_citation_check_finds_what_it_looks_for() -> None:
    document = TEMPLATE / "docs" / "architecture.md"
    for cited in ("`../shared/BLUEPRINT.md`", "see /work/notes/x.md", "000_c045d97006f511b1.txt"):
        assert outside_citations(document, cited), cited
    assert outside_citations(document, "[plan](../../plan.md)")
    assert not outside_citations(document, "[home](../README.md), volume /data, /run/secrets")


def test_no_document_cites_a_file_outside_the_repository() -> None:
    cited = {
        doc.relative_to(TEMPLATE).as_posix(): found
        for doc in documents()
        if (found := outside_citations(doc, doc.read_text(encoding="utf-8")))
    }
    assert len(documents()) > 10
    assert not cited, cited


# The tracker's words: what a test shows must read without the issue it came from.
TRACKER = re.compile(r"\bissues? #?\d+|\bpoints? \d+|\bacceptance\b", re.IGNORECASE)
PROSE = re.compile(r'"""[\s\S]*?"""|#[^\n]*')


def test_test_docstrings_and_comments_describe_behaviour() -> None:
    """No docstring or comment in the template's tests or the framework's tests names an
    issue, a point or acceptance criteria."""
    tests = [*sorted((TEMPLATE / "tests").rglob("*.py"))]
    tests += [p for p in sorted((TEMPLATE / "template" / "tests").rglob("*")) if p.is_file()]
    found = []
    for path in tests:
        if path == Path(__file__) or path.suffix not in {".py", ".jinja"}:
            continue  # this file names the words it looks for
        for prose in PROSE.finditer(path.read_text(encoding="utf-8")):
            words = TRACKER.findall(prose.group())
            found += [f"{path.relative_to(TEMPLATE)}: {word}" for word in words]
    assert len(tests) > 50 and TRACKER.search("Issue 6, points 1-3: ...")
    assert not found, found

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""What a change does to the code, told apart from how it is written.

The gate compares the code on disk with a baseline, what the project has promised so far:

- `--base REF`, else `genops.base_ref` in blueprint.yml: the merge base of `HEAD` with it;
- else the last release: the highest release tag reachable from `HEAD`, a tag named like
  a final version (`v1.2.3`, `1.2.3`, `v2`; not `v2.0.0rc1`). On a release tag itself
  with a clean working tree, the release before it;
- else the merge base of `HEAD` with the default branch: the remote's `HEAD`
  (`origin/HEAD`), else `init.defaultBranch`, else the only branch of a repository with
  no remote branches. So on a branch, its own commits are what the gate judges.

An API that did not exist at the baseline is never a break: a cell made on a branch, or
since the last release, can be reshaped freely. On the default branch itself before the
first release nothing has been promised, so API breaks are not judged there; the gate
lists what the uncommitted changes (on a clean tree: the last commit, against `HEAD^`)
change. Tag a release (`git tag v1.0.0`) to protect the API from then on.

It reports three things:

- the public API breaks, found by [griffe](https://mkdocstrings.github.io/griffe/):
  a public function, class or attribute removed, a parameter removed, renamed or made
  required, a return type changed;
- every changed symbol of `src/` (function, method, class body, module body), classified
  `semantic`, `cosmetic` (written differently, same normalised syntax tree: reformatting,
  comments, docstrings, renamed local variables), `added` or `removed`. The table is in
  the gate's details, with the Python version that built the syntax trees;
- hand edits of template-owned files (the check of the `cellforge-owned` pre-commit hook).

Without a baseline (no default branch found, not a git repository, or no git) there is
nothing to compare with, and the gate warns. griffe reads modules as UTF-8: the API of a
module in another encoding is not compared, and the gate warns about it. In CI, check
out the full history and tags (`fetch-depth: 0`) so the baseline exists.

Protects against: a change that breaks callers of the public API without saying so; a
"pure reformat" that is not one; a template-owned file changed by hand, which the next
regeneration would silently undo.

Fails when: a public API break is not acknowledged, a template-owned file differs from
what the template wrote, or a changed file of `src/` does not parse. Semantic changes
alone never fail: the table is there for the reviewer.

Warns when: there is no baseline to compare with, or a changed module is not UTF-8.

Acknowledge a deliberate change: for an API break, put a line `API-Break: <path>` in the
message of a commit since the baseline (the path as the gate prints it, e.g.
`API-Break: mypkg.cells.notes.handlers.setup`; a module or class path covers what is
inside it; `API-Break: *` covers every break since the baseline), or list the path under
`genops.acknowledged_breaks` in blueprint.yml (`genops check --acknowledge PATH` does it
for one run: `cell regenerate --api-break PATH` gates a regeneration so, and suggests the
commit trailer). A template-owned file changes through
blueprint.yml or a template update, never by hand.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.git import git
from . import Project, Verdict
from .astdiff import PYTHON, Change, classify, symbols
from .baseline import find_baseline

if TYPE_CHECKING:
    import griffe

GATE = "semdiff"
TRAILER = re.compile(r"^API-Break:\s*(\S+)\s*$", re.MULTILINE)
OWNED_MARK = ": template-owned file edited by hand"
NOT_UTF8 = "not UTF-8, so griffe cannot read it: its API is not compared"


@dataclass(frozen=True)
class Break:
    """One public API break, and who acknowledged it (None: nobody)."""

    path: str
    explanation: str
    acknowledged_by: str | None


def check(project: Project) -> Verdict:
    """Compare the working tree with the base; see the module docstring."""
    edited, owned_note = hand_edits(project.root)
    asked = project.base_ref or project.genops.base_ref
    baseline = find_baseline(project.root, str(asked) if asked else None)
    base, label = baseline.commit, baseline.label
    if base is None:
        return _verdict(label, None, {}, edited, owned_note, compared=False)
    files = changed_files(project.root, base)
    changes: dict[str, Change] = {}
    unparsed: list[str] = []
    unread: list[str] = []
    for path in files:
        found, problem = _symbol_changes(project.root, base, path)
        changes.update(found)
        unparsed += [f"{path}: {problem}"] if problem else []
        unread += [f"{path}: {NOT_UTF8}"] if not _utf8(project.root / path) else []
    if unparsed:
        reason = f"{len(unparsed)} changed files do not parse: {unparsed[0]} ({label})"
        return Verdict(GATE, "fail", reason, "API not compared", (*_table(changes), *unparsed))
    try:
        breaks = api_breaks(project, base) if files and baseline.judges_api else []
    except (RuntimeError, OSError, ImportError) as error:  # a worktree or a module failed
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        reason = f"griffe could not load the API at the base ({label}): {first}"
        return Verdict(GATE, "fail", reason, "API not compared", tuple(_table(changes)))
    judged = breaks if baseline.judges_api else None
    verdict = _verdict(label, judged, changes, edited, owned_note, compared=True)
    if unread and verdict.status == "pass":
        reason = f"{len(unread)} changed modules not UTF-8: API not compared ({label})"
        return Verdict(GATE, "warn", reason, verdict.figure, (*verdict.details, *unread))
    return replace(verdict, details=(*verdict.details, *unread))


def changed_files(root: Path, base: str) -> list[str]:
    """The .py files under src/ that differ between `base` and the working tree
    (paths relative to `root`), untracked new files included. `-z`: git quotes a name
    with spaces or non-ASCII letters otherwise."""
    options = ("-z", "--name-only", "--relative", "--no-renames")
    tracked = git(root, "diff", *options, base, "--", "src")
    new = git(root, "ls-files", "-z", "--others", "--exclude-standard", "--", "src")
    names = set(tracked.stdout.split("\0")) | set(new.stdout.split("\0"))
    return sorted(name for name in names if name.endswith(".py"))


def _symbol_changes(root: Path, base: str, path: str) -> tuple[dict[str, Change], str | None]:
    """The changed symbols of one file, and why its new version does not parse (if so).
    Sources are read as bytes, so a PEP 263 encoding declaration is honoured."""
    module = ".".join(Path(path).relative_to("src").with_suffix("").parts)
    module = module.removesuffix(".__init__")
    shown = git(root, "show", f"{base}:./{path}")
    old = shown.data if shown.ok else None
    file = root / path
    new = file.read_bytes() if file.is_file() else None
    try:
        after = symbols(new, module) if new is not None else {}
    except (SyntaxError, ValueError) as error:  # ValueError: a null byte
        return {module: "semantic"}, _syntax_error(error)
    try:
        before = symbols(old, module) if old is not None else {}
    except (SyntaxError, ValueError):
        return {module: "semantic"}, None  # the base did not parse: any change is semantic
    return classify(before, after), None


def _syntax_error(error: SyntaxError | ValueError) -> str:
    if isinstance(error, SyntaxError):
        return f"line {error.lineno}: {error.msg}"
    return str(error)


def _utf8(file: Path) -> bool:
    try:
        file.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return not file.is_file()  # a deleted file has nothing to read
    return True


def acknowledgements(project: Project, base: str) -> dict[str, str]:
    """Acknowledged API paths -> where they were acknowledged."""
    listed = project.genops.acknowledged_breaks
    found = {str(path): "blueprint" for path in listed}
    found.update({path: "--acknowledge" for path in project.acknowledged if path not in found})
    log = git(project.root, "log", "--format=%B", f"{base}..HEAD")
    for match in TRAILER.finditer(log.stdout):
        found.setdefault(match.group(1), "commit")
    return found


def acknowledged_by(path: str, acknowledged: dict[str, str]) -> str | None:
    for known, where in acknowledged.items():
        if known in ("*", path) or path.startswith(known + "."):
            return where
    return None


def api_breaks(project: Project, base: str) -> list[Break]:
    """The public API breaks between `base` and the working tree, found by griffe."""
    # start-up cost: griffe (dev tooling) loads only when this gate compares an API
    import griffe

    source = f"src/{project.package}"
    exists = git(project.root, "cat-file", "-e", f"{base}:./{source}/__init__.py")
    if exists.returncode != 0:
        return []  # the package is new since the base: no API to break yet
    prefix = git(project.root, "rev-parse", "--show-prefix").stdout.strip()
    try:
        with griffe.logger.disable():
            old = griffe.load_git(
                project.package, ref=base, repo=project.root, search_paths=[f"{prefix}src"]
            )
            new = griffe.load(
                project.package, search_paths=[project.root / "src"], try_relative_path=False
            )
            found = list(griffe.find_breaking_changes(old, new))
    except griffe.GriffeError as error:
        raise RuntimeError(str(error) or type(error).__name__) from error
    acknowledged = acknowledgements(project, base) if found else {}
    return [
        Break(item.obj.path, _explain(item), acknowledged_by(item.obj.path, acknowledged))
        for item in found
    ]


def _explain(item: griffe.Breakage) -> str:
    import griffe  # start-up cost: as in api_breaks

    parameter = next(
        (v for v in (item.new_value, item.old_value) if isinstance(v, griffe.Parameter)), None
    )
    if parameter is not None:
        return f"{item.kind.value} ({parameter.name})"
    if item.kind in (
        griffe.BreakageKind.ATTRIBUTE_CHANGED_TYPE,
        griffe.BreakageKind.ATTRIBUTE_CHANGED_VALUE,
        griffe.BreakageKind.RETURN_CHANGED_TYPE,
    ):
        return f"{item.kind.value} ({item.old_value} -> {item.new_value})"
    return str(item.kind.value)


def hand_edits(root: Path) -> tuple[list[str], str | None]:
    """Template-owned files edited by hand, as the vendored `.cellforge check-owned`
    reports them, and a note when that check could not run."""
    script = root / ".cellforge"
    if not (script / "__main__.py").is_file():
        return [], "no .cellforge folder: hand edits not checked"
    done = subprocess.run(
        [sys.executable, str(script), "--project", str(root), "check-owned"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    edited = [line.split(OWNED_MARK)[0] for line in done.stderr.splitlines() if OWNED_MARK in line]
    if done.returncode != 0 and not edited:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return ["(check-owned failed)"], f"check-owned failed: {last}"
    return edited, None


def _verdict(
    label: str,
    judged: list[Break] | None,  # None: API breaks not judged (no API promised yet)
    changes: dict[str, Change],
    edited: list[str],
    owned_note: str | None,
    compared: bool,
) -> Verdict:
    counts = {kind: sum(1 for c in changes.values() if c == kind) for kind in _KINDS}
    breaks = judged or []
    figure = "API not judged" if judged is None else f"{len(breaks)} API breaks"
    figure += f", {counts['semantic']} semantic"
    figure += "".join(f", {counts[kind]} {kind}" for kind in ("added", "removed") if counts[kind])
    figure += f", {counts['cosmetic']} cosmetic ({PYTHON})"
    open_breaks = [item for item in breaks if item.acknowledged_by is None]
    problems = []
    if open_breaks:
        paths = ", ".join(sorted({item.path for item in open_breaks}))
        problems.append(f"{len(open_breaks)} unacknowledged API breaks: {paths}")
    if edited:
        problems.append(f"{len(edited)} template-owned files edited by hand")
    details = _table(changes) + [
        f"API break: {item.path}: {item.explanation}"
        + (f" (acknowledged in {item.acknowledged_by})" if item.acknowledged_by else "")
        for item in breaks
    ]
    details += [f"hand edit: {path}: change blueprint.yml or the template" for path in edited]
    details += [owned_note] if owned_note else []
    if problems:
        return Verdict(GATE, "fail", f"{'; '.join(problems)} ({label})", figure, tuple(details))
    if not compared:
        return Verdict(GATE, "warn", label, figure, tuple(details))
    if owned_note:
        return Verdict(GATE, "warn", f"{owned_note} ({label})", figure, tuple(details))
    reason = "no unacknowledged API break, no hand edit" if judged is not None else "no hand edit"
    reason += f" ({label})"
    return Verdict(GATE, "pass", reason, figure, tuple(details))


_KINDS: Sequence[Change] = ("added", "removed", "semantic", "cosmetic")


def _table(changes: dict[str, Change]) -> list[str]:
    if not changes:
        return []
    width = max(len("symbol"), *(len(name) for name in changes))
    return [f"{'symbol'.ljust(width)}  kind"] + [
        f"{name.ljust(width)}  {kind}" for name, kind in sorted(changes.items())
    ]

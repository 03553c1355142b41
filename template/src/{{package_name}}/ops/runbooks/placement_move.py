# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""A placement change, prepared: the refusals, and the one-line edit of `blueprint.yml`.

`promote-cell` and `demote-cell` change one value, `cells.<NAME>.placement`, and keep
every other byte of the file (the user's comments and layout). The text is edited where
the blueprint's loader says the value is written (`core.blueprint.value_span`), and the
result is judged through the typed model: the edited blueprint must parse into the same
model with that one cell moved, or the runbook refuses and says how to do it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...core.blueprint import Blueprint, parse, value_span
from ...core.git import git
from ...core.names import PACKAGE
from .changes import dirty
from .engine import Invocation, PreconditionError, Regeneration, prog

BLUEPRINT = "blueprint.yml"
IN_PROCESS = "in-process"
TRANSPORTS = ("redis", "nats")
# What the template applies from: a change there must be this runbook's alone.
SHARED_STATE = (BLUEPRINT, ".copier-answers.yml", ".cellforge-state.json", f"src/{PACKAGE}")


def written(transport: str | None) -> str:
    """A placement as `blueprint.yml` writes it."""
    return IN_PROCESS if transport is None else "{worker: " + transport + "}"


@dataclass(frozen=True)
class Check:
    name: str
    returncode: int
    output: str


@dataclass
class Move:
    """One cell's placement change, prepared: the blueprint's text before and after."""

    root: Path
    cell: str
    transport: str | None  # where it goes; None: the gateway's process
    was: str | None  # where it runs now
    line: int
    old_lines: list[str]
    new_lines: list[str]
    old_text: str
    new_text: str
    regeneration: Regeneration
    regenerated: str = ""  # what the regeneration printed
    checks: list[Check] = field(default_factory=list)

    @property
    def blueprint(self) -> Path:
        return self.root / BLUEPRINT

    @property
    def target(self) -> str:
        return written(self.transport)


def read_text(path: Path) -> str:
    """The file's text with its line endings as they are (no newline translation)."""
    return path.read_bytes().decode("utf-8")


def edit_placement(text: str, cell: str, target: str) -> tuple[str, int]:
    """`text` with only `cells.<cell>.placement`'s value replaced by `target`, and the
    line it is on. Comments and layout elsewhere are untouched."""
    span = value_span(text, ("cells", cell, "placement"))
    if span is None:
        raise PreconditionError(f"{BLUEPRINT} has no cells.{cell}.placement")
    if span.on_key_line:  # `placement: in-process  # why`
        return text[: span.start] + target + text[span.end :], span.line
    # A block mapping under the key (`placement:` then `worker: redis` below it).
    segment = text[span.key_end : span.end]
    if "#" in segment:
        raise PreconditionError(
            f"cells.{cell}.placement spans several lines with comments in them; "
            f"set `placement: {target}` by hand, commit, and run the runbook again"
        )
    kept = segment[len(segment.rstrip()) :]
    return text[: span.key_end] + ": " + target + kept + text[span.end :], span.line


def moved(blueprint: Blueprint, cell: str, transport: str | None) -> Blueprint:
    """`blueprint` with `cell` placed on a worker over `transport` (None: in-process)."""
    data = blueprint.model_dump(mode="json", exclude_unset=True)
    data["cells"][cell]["placement"] = IN_PROCESS if transport is None else {"worker": transport}
    return Blueprint.model_validate(data)


def require_committed(root: Path) -> None:
    if git(root, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0:
        raise PreconditionError(
            f"{root} is not a git repository with a commit: the regeneration applies the "
            "template against the last commit, so commit the project first"
        )
    users = f"src/{PACKAGE}/cells/"
    pending = [path for path in dirty(root, *SHARED_STATE) if not path.startswith(users)]
    if pending:
        raise PreconditionError(
            "uncommitted changes in " + ", ".join(sorted(pending)) + ": commit (or stash) "
            "them first, so that the template applies this runbook's change alone and it "
            "can be undone alone"
        )


def _current(root: Path) -> tuple[str, Blueprint]:
    """The blueprint's text and its typed model; refused when it is missing or invalid."""
    path = root / BLUEPRINT
    if not path.is_file():
        raise PreconditionError(
            f"no {BLUEPRINT} in {root}: run it from the project root (or --root)"
        )
    text = read_text(path)
    blueprint, problems = parse(text)
    if blueprint is None:
        raise PreconditionError(
            f"{BLUEPRINT}:{problems[0]}; fix it first (`{prog()} blueprint check`)"
        )
    return text, blueprint


def _edited(text: str, blueprint: Blueprint, cell: str, transport: str | None) -> tuple[str, int]:
    """The edited text, checked: it parses into the blueprint with only that cell moved."""
    new_text, line = edit_placement(text, cell, written(transport))
    if parse(new_text)[0] != moved(blueprint, cell, transport):
        raise PreconditionError(
            f"could not change cells.{cell}.placement alone in {BLUEPRINT}; set "
            f"`placement: {written(transport)}` by hand, commit, and run the runbook again"
        )
    return new_text, line


def prepare(invocation: Invocation, transport: str | None) -> Move:
    root, cell = invocation.root, invocation.arguments["cell"]
    if transport is not None and transport not in TRANSPORTS:
        raise PreconditionError(
            f"unknown transport {transport!r}: use one of {', '.join(TRANSPORTS)}"
        )
    text, blueprint = _current(root)
    if cell not in blueprint.cells:
        names = ", ".join(blueprint.cells)
        raise PreconditionError(f"no cell {cell!r} in {BLUEPRINT} (its cells: {names})")
    was = blueprint.cells[cell].transport
    if was == transport:
        where = "in the gateway's process" if was is None else f"on a worker over {was}"
        raise PreconditionError(f"{cell!r} already runs {where}: nothing to do")
    require_committed(root)
    problem = invocation.regeneration.problem(root)
    if problem:
        raise PreconditionError(problem)
    new_text, line = _edited(text, blueprint, cell, transport)
    old_lines, new_lines = text.splitlines(), new_text.splitlines()
    span = len(old_lines) - len(new_lines) + 1
    return Move(
        root=root,
        cell=cell,
        transport=transport,
        was=was,
        line=line,
        old_lines=old_lines[line - 1 : line - 1 + span],
        new_lines=new_lines[line - 1 : line],
        old_text=text,
        new_text=new_text,
        regeneration=invocation.regeneration,
    )

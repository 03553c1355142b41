"""Placement runbooks: `promote-cell NAME --to redis|nats` moves a cell out of the
gateway's process onto a worker; `demote-cell NAME` brings it back.

`blueprint.yml` is the one place where a placement is decided, so both runbooks change one
line of it (the user's comments and layout stay byte for byte), let the template follow
through the regeneration loop (`core/placements.py`, which the settings read), run the
checks against the regenerated code, and print how to deploy. Nothing is committed: the
user reviews the change and commits it like any other blueprint change.
"""

from __future__ import annotations

import ast
import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...core.names import ENV_PREFIX, PACKAGE
from . import (
    Invocation,
    Param,
    PreconditionError,
    Regeneration,
    Runbook,
    Step,
    StepError,
    TemplateHook,
    changed_since,
    dirty,
    environment_for,
    git,
    indent,
    prog,
)

BLUEPRINT = "blueprint.yml"
IN_PROCESS = "in-process"
TRANSPORTS = ("redis", "nats")
PLACEMENTS_FILE = f"src/{PACKAGE}/core/placements.py"
# What the template applies from: a change there must be this runbook's alone.
SHARED_STATE = (BLUEPRINT, ".copier-answers.yml", ".cellforge-state.json", f"src/{PACKAGE}")
CONFLICT_MARKERS = ("<<<<<<< ", ">>>>>>> ")
SETTINGS_PROBE = (
    f"import json; from {PACKAGE}.core.settings import Settings; "
    "print(json.dumps(Settings().placements, sort_keys=True))"
)


def written(transport: str | None) -> str:
    """A placement as `blueprint.yml` writes it."""
    return IN_PROCESS if transport is None else "{worker: " + transport + "}"


def transport_of(placement: Any) -> str | None:
    return str(placement["worker"]) if isinstance(placement, dict) else None


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


# ---- preparing: refusals, and the one-line edit -----------------------------------------


def _read(path: Path) -> str:
    """The file's text with its line endings as they are (no newline translation)."""
    return path.read_bytes().decode("utf-8")


def _value_node(root: Any, path: tuple[str, ...]) -> tuple[Any, Any]:
    """The key node and the value node at `path` in a composed YAML document."""
    import yaml

    key, node = None, root
    for step in path:
        if not isinstance(node, yaml.MappingNode):
            raise PreconditionError(f"{BLUEPRINT} has no {'.'.join(path)}")
        matches = [(k, v) for k, v in node.value if k.value == step]
        if not matches:
            raise PreconditionError(f"{BLUEPRINT} has no {'.'.join(path)}")
        key, node = matches[-1]
    return key, node


def edit_placement(text: str, cell: str, target: str) -> tuple[str, int]:
    """`text` with only `cells.<cell>.placement`'s value replaced by `target`, and the
    line it is on. Comments and layout elsewhere are untouched."""
    import yaml

    key, value = _value_node(yaml.compose(text), ("cells", cell, "placement"))
    start, end = value.start_mark.index, value.end_mark.index
    if value.start_mark.line == key.start_mark.line:  # `placement: in-process  # why`
        return text[:start] + target + text[end:], key.start_mark.line + 1
    # A block mapping under the key (`placement:` then `worker: redis` below it).
    segment = text[key.end_mark.index : end]
    if "#" in segment:
        raise PreconditionError(
            f"cells.{cell}.placement spans several lines with comments in them; "
            f"set `placement: {target}` by hand, commit, and run the runbook again"
        )
    kept = segment[len(segment.rstrip()) :]
    replaced = text[: key.end_mark.index] + ": " + target + kept + text[end:]
    return replaced, key.start_mark.line + 1


def _require_committed(root: Path) -> None:
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


def _prepare(invocation: Invocation, transport: str | None) -> Move:
    import yaml

    from ...core.blueprint import check_text

    root, cell = invocation.root, invocation.arguments["cell"]
    if transport is not None and transport not in TRANSPORTS:
        raise PreconditionError(
            f"unknown transport {transport!r}: use one of {', '.join(TRANSPORTS)}"
        )
    path = root / BLUEPRINT
    if not path.is_file():
        raise PreconditionError(
            f"no {BLUEPRINT} in {root}: run it from the project root (or --root)"
        )
    text = _read(path)
    problems = check_text(text)
    if problems:
        raise PreconditionError(
            f"{BLUEPRINT}:{problems[0]}; fix it first (`{prog()} blueprint check`)"
        )
    data = yaml.safe_load(text)
    cells = data["cells"]
    if cell not in cells:
        raise PreconditionError(f"no cell {cell!r} in {BLUEPRINT} (its cells: {', '.join(cells)})")
    was = transport_of(cells[cell]["placement"])
    if was == transport:
        where = "in the gateway's process" if was is None else f"on a worker over {was}"
        raise PreconditionError(f"{cell!r} already runs {where}: nothing to do")
    _require_committed(root)
    problem = invocation.regeneration.problem(root)
    if problem:
        raise PreconditionError(problem)
    new_text, line = edit_placement(text, cell, written(transport))
    expected = copy.deepcopy(data)
    expected["cells"][cell]["placement"] = yaml.safe_load(written(transport))
    if check_text(new_text) or yaml.safe_load(new_text) != expected:
        raise PreconditionError(
            f"could not change cells.{cell}.placement alone in {BLUEPRINT}; set "
            f"`placement: {written(transport)}` by hand, commit, and run the runbook again"
        )
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


def prepare_promote(invocation: Invocation) -> Move:
    """- `NAME` is not a cell of `blueprint.yml`, or it already runs on a worker over that
      transport; the transport is not redis or nats;
    - `blueprint.yml` is invalid;
    - the project has no commit yet, or `blueprint.yml`, `.copier-answers.yml`,
      `.cellforge-state.json` or a template-owned file under `src/` has uncommitted
      changes (the template must apply this change alone, so that it can be undone alone);
    - the regeneration cannot run here (no `.cellforge/`, or copier is not installed)."""
    return _prepare(invocation, invocation.arguments["to"])


def prepare_demote(invocation: Invocation) -> Move:
    """- `NAME` is not a cell of `blueprint.yml`, or it already runs in the gateway's
      process;
    - `blueprint.yml` is invalid;
    - the project has no commit yet, or `blueprint.yml`, `.copier-answers.yml`,
      `.cellforge-state.json` or a template-owned file under `src/` has uncommitted
      changes (the template must apply this change alone, so that it can be undone alone);
    - the regeneration cannot run here (no `.cellforge/`, or copier is not installed)."""
    return _prepare(invocation, None)


# ---- step 1: the blueprint ---------------------------------------------------------------


def plan_placement(move: Move) -> str:
    """Shows the line of `blueprint.yml` that changes; nothing else in the file does."""
    removed = [f"- {line}" for line in move.old_lines]
    return "\n".join([f"{BLUEPRINT}:{move.line}", *removed, f"+ {move.new_lines[0]}"])


def apply_placement(move: Move) -> str:
    """Writes that line, keeping every other byte of the file (comments, layout, line
    endings)."""
    if _read(move.blueprint) != move.old_text:
        raise StepError(f"{BLUEPRINT} changed since the plan was made; run the runbook again")
    move.blueprint.write_bytes(move.new_text.encode("utf-8"))
    return f"{BLUEPRINT}:{move.line}: {move.cell}: {written(move.was)} -> {move.target}"


def verify_placement(move: Move) -> str:
    """`blueprint check` finds no problem, and the cell's placement reads back as the
    target."""
    from ...core.blueprint import check_file, load

    problems = check_file(move.blueprint)
    if problems:
        raise StepError(f"{BLUEPRINT}:{problems[0]}")
    placement = load(move.blueprint)["cells"][move.cell]["placement"]
    if transport_of(placement) != move.transport:
        raise StepError(f"cells.{move.cell}.placement reads back {placement!r}")
    return f"{BLUEPRINT} is valid and cells.{move.cell}.placement reads {move.target}"


# ---- step 2: the template ----------------------------------------------------------------


def read_placements(path: Path) -> dict[str, str]:
    """`PLACEMENTS` as written in `core/placements.py`, read without importing it (this
    process imported the file as it was before the regeneration)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    targets: list[ast.expr]
    for node in tree.body:
        if isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        if value and any(isinstance(t, ast.Name) and t.id == "PLACEMENTS" for t in targets):
            placed: dict[str, str] = ast.literal_eval(value)
            return placed
    raise StepError(f"{path} defines no PLACEMENTS")


def _said(move: Move) -> str:
    return f"; the regeneration said:\n{move.regenerated}" if move.regenerated else ""


def plan_regenerate(move: Move) -> str:
    """Runs the regeneration loop as the pre-commit hook does when `blueprint.yml`
    changes: copier update re-applies the template with the blueprint as its data, so
    `core/placements.py` (which the settings read) and whatever else derives from the
    placements follow."""
    if move.transport:
        effect = f"list {move.cell} -> {move.transport}"
    else:
        effect = f"no longer list {move.cell}"
    return f"python {TemplateHook.command}: {PLACEMENTS_FILE} will {effect}"


def _conflicted(root: Path, paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        file = root / path
        if file.is_file():
            lines = file.read_bytes().decode("utf-8", "replace").splitlines()
            if any(line.startswith(CONFLICT_MARKERS) for line in lines):
                found.append(path)
    return found


def apply_regenerate(move: Move) -> str:
    """Runs it. Conflict markers left in a file, or an error with nothing applied, stop
    the runbook."""
    before = dirty(move.root)
    outcome = move.regeneration(move.root)
    move.regenerated = outcome.output
    changed = changed_since(move.root, before)
    conflicted = _conflicted(move.root, changed)
    if conflicted:
        raise StepError(
            "the template's changes conflict with edits in " + ", ".join(conflicted) + ": "
            "resolve the <<<<<<< markers and commit, or undo" + _said(move)
        )
    if outcome.returncode != 0 and not changed:
        raise StepError(f"the regeneration failed (exit {outcome.returncode}){_said(move)}")
    listing = ", ".join(changed) or "none"
    return f"exit {outcome.returncode}; files changed: {listing}\n{outcome.output}".rstrip()


def verify_regenerate(move: Move) -> str:
    """`core/placements.py` lists the cell with its new transport (promote), or no longer
    lists it (demote)."""
    path = move.root / PLACEMENTS_FILE
    if not path.is_file():
        raise StepError(f"{PLACEMENTS_FILE} is missing{_said(move)}")
    found = read_placements(path).get(move.cell)
    if found != move.transport:
        shown = found or IN_PROCESS
        wanted = move.transport or IN_PROCESS
        raise StepError(f"{PLACEMENTS_FILE} places {move.cell} {shown}, not {wanted}{_said(move)}")
    if move.transport:
        return f"{PLACEMENTS_FILE} lists {move.cell} -> {move.transport}"
    return f"{PLACEMENTS_FILE} no longer lists {move.cell}"


# ---- step 3: the checks ------------------------------------------------------------------


def _check_commands(move: Move) -> list[tuple[str, list[str]]]:
    python = sys.executable
    return [
        (f"{prog()} blueprint check", [python, "-m", PACKAGE, "blueprint", "check"]),
        (f"{prog()} explain --check", [python, "-m", PACKAGE, "explain", "--check"]),
        ("Settings().placements in a new process", [python, "-c", SETTINGS_PROBE]),
    ]


def plan_checks(move: Move) -> str:
    """Runs `blueprint check` and `explain --check` (the docs and import contracts match
    the code), and reads the placements a fresh process's settings get (with no
    `<PREFIX>PLACEMENTS` override), each in a new process on the regenerated code."""
    return "\n".join(name for name, _ in _check_commands(move))


def apply_checks(move: Move) -> str:
    """Runs them in the project's root, with its `src/` first on the import path."""
    import subprocess

    env = environment_for(move.root, drop=[f"{ENV_PREFIX}PLACEMENTS"])
    move.checks = []
    for name, command in _check_commands(move):
        done = subprocess.run(
            command, cwd=move.root, env=env, capture_output=True, text=True, timeout=300
        )
        move.checks.append(Check(name, done.returncode, (done.stdout + done.stderr).strip()))
    return ", ".join(f"{c.name}: exit {c.returncode}" for c in move.checks)


def verify_checks(move: Move) -> str:
    """Every check exits 0, and the settings place the cell where the blueprint says."""
    for check in move.checks:
        if check.returncode != 0:
            raise StepError(f"`{check.name}` failed:\n{check.output}")
    probe = move.checks[-1].output.splitlines()[-1]
    seen = json.loads(probe).get(move.cell)
    if seen != move.transport:
        raise StepError(f"the settings place {move.cell} {seen or IN_PROCESS}: {probe}")
    return f"all {len(move.checks)} checks pass; the settings read placements {probe}"


# ---- step 4: deploying -------------------------------------------------------------------


def _lines(pairs: list[tuple[str, str]]) -> str:
    """Commands with their comments aligned."""
    width = max(len(command) for command, _ in pairs)
    return "\n".join(f"{command.ljust(width)}  # {why}" for command, why in pairs)


def _instructions(move: Move) -> str:
    from ...core.settings import Settings

    cli, cell = f"uv run {prog()}", move.cell
    commit = ("git add -A && git commit", "first: every deploy then agrees on the placement")
    if move.transport is None:
        return _lines(
            [
                commit,
                (f"{cli} serve", f"restart the gateway: it handles {cell} itself again"),
                (
                    f"{prog()} worker --cell {cell}",
                    f"then stop it, once its {move.was} queue is empty",
                ),
            ]
        )
    transport = move.transport
    url = Settings.model_fields[f"{transport}_url"].default
    return _lines(
        [
            commit,
            (f"uv sync --extra {transport}", f"the {transport} client, wherever the service runs"),
            (f"export {ENV_PREFIX}{transport.upper()}_URL={url}", "your server: the same for both"),
            (f"{cli} worker --cell {cell}", "start the worker first"),
            (f"{cli} serve", f"then restart the gateway: it sends {cell}'s messages there"),
        ]
    )


def plan_deploy(move: Move) -> str:
    """Prints how to run the cell's worker: the transport's client to install, the
    server's URL to set (the same for the gateway and the worker), the worker's command,
    and the order (the worker first, then the gateway)."""
    return _instructions(move)


def apply_deploy(move: Move) -> str:
    """Prints them again, now that the code agrees: deploying is yours (or your
    pipeline's), not the runbook's."""
    return "deploy it:\n" + indent(_instructions(move), "  ")


def verify_deploy(move: Move) -> str:
    """Says whether the transport's client library is installed here (a reminder, never
    a failure: the worker may run elsewhere)."""
    import importlib.util

    assert move.transport is not None
    extra = move.transport  # the packages redis and nats-py, imported as redis and nats
    if importlib.util.find_spec(extra) is None:
        return f"the {extra} client is NOT installed here: uv sync --extra {extra}"
    return f"the {move.transport} client is installed here"


def plan_retire(move: Move) -> str:
    """Prints how to take the worker out: restart the gateway first (it handles the cell
    in its own process again), then stop the worker once it has finished what is
    queued for it."""
    return _instructions(move)


def apply_retire(move: Move) -> str:
    """Prints them again, now that the code agrees: deploying is yours (or your
    pipeline's), not the runbook's."""
    return "deploy it:\n" + indent(_instructions(move), "  ")


def verify_retire(move: Move) -> str:
    """Says whether another cell still uses the transport the worker used (if none, its
    server URL setting can go)."""
    path = move.root / PLACEMENTS_FILE
    others = sorted(cell for cell, t in read_placements(path).items() if t == move.was)
    if others:
        return f"{move.was} is still used by: {', '.join(others)}"
    return f"no cell uses {move.was} any more"


# ---- the runbooks ------------------------------------------------------------------------


def undo_promote(move: Move) -> str:
    """Once the promotion is committed, `demote-cell NAME` reverses it through the same
    steps (or `promote-cell NAME --to` the transport it had, if it had one)."""
    if move.was:
        return f"uv run {prog()} runbook run promote-cell {move.cell} --to {move.was} --yes"
    return f"uv run {prog()} runbook run demote-cell {move.cell} --yes"


def undo_demote(move: Move) -> str:
    """Once the demotion is committed, `promote-cell NAME --to TRANSPORT` (the transport
    it had) reverses it, through the same steps."""
    return f"uv run {prog()} runbook run promote-cell {move.cell} --to {move.was} --yes"


CELL = Param("cell", "a cell of `blueprint.yml`", metavar="NAME")
SET_PLACEMENT = Step("set the placement", plan_placement, apply_placement, verify_placement)
REAPPLY = Step("re-apply the template", plan_regenerate, apply_regenerate, verify_regenerate)
CHECKS = Step("run the checks", plan_checks, apply_checks, verify_checks)

PROMOTE: Runbook[Move] = Runbook(
    name="promote-cell",
    summary="move a cell out of the gateway's process onto a worker over redis or nats",
    about="""
    Use it when a cell needs its own process: sustained load that a trigger reports, or
    a flag of the cell (untrusted code, isolation). The cell's code does not change; the
    gateway reaches it over the transport instead of a call in its own process, and the
    worker (`worker --cell NAME`) runs it.
    """,
    params=(
        CELL,
        Param("--to", "the transport the worker is reached over", "TRANSPORT", TRANSPORTS),
    ),
    prepare=prepare_promote,
    steps=(
        SET_PLACEMENT,
        REAPPLY,
        CHECKS,
        Step("deploy the worker", plan_deploy, apply_deploy, verify_deploy),
    ),
    undo=undo_promote,
)

DEMOTE: Runbook[Move] = Runbook(
    name="demote-cell",
    summary="bring a cell back from its worker into the gateway's process",
    about="""
    The reverse of `promote-cell`: the cell runs in the gateway's process again, on the
    in-memory bus, and its worker can be stopped.
    """,
    params=(CELL,),
    prepare=prepare_demote,
    steps=(
        SET_PLACEMENT,
        REAPPLY,
        CHECKS,
        Step("retire the worker", plan_retire, apply_retire, verify_retire),
    ),
    undo=undo_demote,
)

RUNBOOKS: tuple[Runbook[Any], ...] = (PROMOTE, DEMOTE)

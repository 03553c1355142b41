# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`AGENTS.md`, at the root and in each cell's folder: what a coding agent, or a newcomer,
needs before changing the project, written from the code so that it cannot go stale.

Coding agents read `AGENTS.md` before they work. Prose kept by hand drifts from the
commands, cells and gates it names; this one is rendered from the cell registry, the gate
registry and the ownership lists, `explain --check` fails when it drifts, and a framework
test checks that every command it names exists in the CLI. The root file holds the two
commands, the ownership rules, how to add a cell, the cells with their contracts and
specs, the gates, and the regeneration commands; each cell's folder gets a short one
pointing at the cell's spec, contract and tests. `file_entries` is also what the cell
canvases of docs/architecture.md show: one source for where a cell's files are.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from pathlib import Path

from ..core.catalog import CellFiles
from ..core.cells import Cell, Registry
from ..core.markers import derived_line
from ..core.names import PACKAGE, PROG
from ..genops import GATES
from .ownership import GENERATED, SHARED, TEMPLATE_OWNED

PATH = "AGENTS.md"
RUN = f"uv run {PROG}"
CELLS = f"src/{PACKAGE}/cells/"
WIDTH = 88  # columns of prose; a table row or a code span is never broken
CODE = re.compile(r"`[^`]*`")
# What each of a cell's files holds: said where the file is missing.
HOLDS = {
    "spec": "its requirements in prose and the acceptance examples its tests check",
    "contract": "its message classes, its public contract",
    "tests": "the tests of its acceptance examples",
}


def _code(paths: Iterable[str]) -> str:
    return ", ".join(f"`{path}`" for path in paths)


def contract_names(cell: Cell) -> str:
    """The message classes the cell's contract declares: what it handles and publishes."""
    return _code(t.__name__ for t in (*cell.handles, *cell.publishes)) or "no message yet"


def file_entries(cell: Cell, root: Path) -> dict[str, str]:
    """Where the cell's spec, contract and tests are; a file that is not there is shown as
    missing, with what belongs in it (never an error: a new cell may have no spec yet)."""
    files = CellFiles(cell.name)
    paths = {"spec": files.spec, "contract": files.contract, "tests": files.tests}
    return {
        what: f"`{path}`" if (root / path).is_file() else f"missing: `{path}` ({HOLDS[what]})"
        for what, path in paths.items()
    }


def _wrapped(text: str, first: str = "", rest: str = "") -> list[str]:
    """`text` wrapped at `WIDTH` columns after `first` (then `rest`), never inside a
    code span, so that a command stays on one line."""
    kept = CODE.sub(lambda span: span.group().replace(" ", "\0"), " ".join(text.split()))
    lines = textwrap.wrap(
        kept,
        WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return [line.replace("\0", " ") for line in lines]


def _items(items: Iterable[str], numbered: bool = False) -> list[str]:
    lines: list[str] = []
    for number, item in enumerate(items, start=1):
        first = f"{number}. " if numbered else "- "
        lines += _wrapped(item, first, " " * len(first))
    return lines


def _commands() -> list[str]:
    return [
        "## Commands",
        "",
        *_items(
            (
                f"Run the service: `{RUN} serve` (the gateway, over HTTP).",
                "Run the tests: `uv run pytest`: your tests under `tests/`, a test of the "
                "assembled service, and every check (ruff, mypy, the import contracts, the "
                "drift check of the generated files). The framework's own tests run apart: "
                "`uv run pytest tests/cellforge`.",
                f"`{RUN} cells` lists the cells and their messages; `{RUN} explain` rewrites "
                "the generated files, this one included, after a change to the code or "
                "`blueprint.yml`.",
            )
        ),
    ]


def _ownership() -> list[str]:
    template = [path for path in TEMPLATE_OWNED if path != ".copier-answers.yml"]
    never = (
        f"the template's files: {_code(template)} (but `{CELLS}`). Each opens with a marker "
        "line (`Owned by the Cellforge template: ...`) and is listed, with its hash, in "
        "`.cellforge-state.json`; the pre-commit hook `cellforge-owned` refuses a hand "
        "edit. They change when `blueprint.yml` changes, or when the template is updated;",
        f"the files `explain` writes from the code: {_code(GENERATED)} (but "
        f"`docs/sandbox.md`). Change the code or `blueprint.yml`, then run `{RUN} explain`; "
        "`explain --check` fails when one drifts;",
        "`.copier-answers.yml` and `.cellforge-state.json`: the records of copier and the hooks.",
    )
    instead = (
        "`blueprint.yml`: the requirements (cells, placements, roles, budgets, pinned "
        f"models, thresholds, the gates' settings); `{RUN} blueprint check` validates it;",
        f"`{CELLS}<name>/`: a cell's code, its `SPEC.md` (requirements and acceptance "
        "examples) and its contract, `messages.py`; created once, never overwritten;",
        "`tests/cells/` and any test you add under `tests/` (but `tests/cellforge/`);",
        f"shared with the template: {_code(SHARED)}; an update merges the template's "
        "changes into yours.",
    )
    return [
        "## Ownership: what never to edit, and what to edit instead",
        "",
        "Never edit by hand:",
        "",
        *_items(never),
        "",
        "Edit instead:",
        "",
        *_items(instead),
    ]


def _adding_a_cell() -> list[str]:
    steps = (
        "Add it under `cells:` in `blueprint.yml` (`<name>: {placement: in-process}`); "
        f"`{RUN} blueprint check` validates it.",
        "`git add blueprint.yml && git commit`. The pre-commit hook `cellforge-regenerate` "
        f"re-applies the template: it creates `{CELLS}<name>/` (its code and `SPEC.md`) and "
        "`tests/cells/test_<name>_cell.py` from the skeleton, refreshes the generated files, "
        "and stops the commit for a review. (Run `uv run pre-commit install` once; by hand, "
        "`uv run python .cellforge regenerate` does the same.)",
        "Review with `git diff`, then `git add -A` and commit again.",
        "Write the cell's `SPEC.md`, then its messages, handlers and tests, or regenerate "
        "them from the spec (below).",
    )
    return [
        "## Adding a cell",
        "",
        *_items(steps, numbered=True),
        "",
        *_wrapped(
            "Never create a cell's folder by hand, and never import one cell from another: "
            "cells send commands, ask queries and publish events on the bus, and the import "
            "contracts (`uv run lint-imports`) fail on a cross-cell import."
        ),
    ]


def _cells(registry: Registry, root: Path) -> list[str]:
    lines = [
        "## Cells",
        "",
        *_wrapped(
            "A cell's public contract is its `messages.py` (what it handles and publishes); "
            "its spec, `SPEC.md`, is yours to keep true; its tests are in `tests/cells/`. "
            "Each cell's folder has an `AGENTS.md` of its own."
        ),
        "",
    ]
    if not len(registry):
        return [*lines, "No cell yet: add one to `blueprint.yml` (above)."]
    lines += ["| cell | contract | messages | spec | tests |", "| --- | --- | --- | --- | --- |"]
    for cell in registry:
        files = file_entries(cell, root)
        lines.append(
            f"| `{cell.name}` | {files['contract']} | {contract_names(cell)} "
            f"| {files['spec']} | {files['tests']} |"
        )
    return lines


def _gates() -> list[str]:
    lines = [
        "## Gates",
        "",
        *_wrapped(
            f"Every change passes the GenOps gates: `{RUN} genops check` runs them all and "
            "prints one table (exit 1 when one fails; `docs/genops.md` says how to "
            "acknowledge a deliberate change). Pre-commit runs the fast ones, CI runs each "
            "as its own job."
        ),
        "",
        "| gate | runs in | protects against | run it alone |",
        "| --- | --- | --- | --- |",
    ]
    for spec in GATES.values():
        where = "pre-commit and CI" if spec.fast else "CI"
        lines.append(
            f"| `{spec.name}` | {where} | {spec.protects} | `{RUN} genops check {spec.name}` |"
        )
    return lines


def _regeneration() -> list[str]:
    commands = (
        f"`{RUN} cell regenerate NAME`: rebuild the cell from its spec, contract and tests;",
        f"`{RUN} cell regenerate NAME --api-break PATH`: the same, acknowledging a "
        "deliberate change of its contract (repeatable);",
        f"`{RUN} cell regenerate NAME --replay`: rebuild the recorded answer, byte for "
        "byte, offline, with no call to the provider;",
        f'`{RUN} cell patch NAME "instruction"`: a minor fix, with the same gates and a '
        "smaller context.",
    )
    return [
        "## Regenerating a cell with a model",
        "",
        *_wrapped(
            "Change the spec, then regenerate the cell from it, rather than patching code "
            "into debt. The model pinned for `codegen` in `blueprint.yml` answers within "
            f"the budgets; the answer may change only `{CELLS}NAME/` and `tests/cells/`, is "
            "gated in a scratch worktree, and is applied as one change to review with "
            "`git diff` only when every gate passes."
        ),
        "",
        *_items(commands),
    ]


def render_agents(registry: Registry, root: Path) -> str:
    """The root `AGENTS.md` of the project at `root`."""
    lines = [derived_line(PATH, PROG), "", f"# Working on {PROG}", ""]
    lines += _wrapped(
        "Read this before changing the project. `explain` writes it from the code and "
        "`blueprint.yml`, and `explain --check` fails when it drifts: never edit it."
    )
    for section in (
        _commands(),
        _ownership(),
        _adding_a_cell(),
        _cells(registry, root),
        _gates(),
        _regeneration(),
    ):
        lines += ["", *section]
    return "\n".join(lines) + "\n"


def render_cell_agents(cell: Cell, root: Path) -> str:
    """The short `AGENTS.md` in the cell's folder: where its spec, contract and tests are,
    and how to regenerate it."""
    path, files = CellFiles(cell.name).agents, file_entries(cell, root)
    lines = [derived_line(path, PROG), "", f"# Cell `{cell.name}`", ""]
    lines += [*_wrapped(cell.rationale), ""]
    lines += _items(
        (
            f"Spec: {files['spec']}: change it first when the cell's behaviour changes.",
            f"Contract: {files['contract']}: {contract_names(cell)}. Other cells and the "
            "gateway see only these; changing them is an API break the `semdiff` gate "
            "reports.",
            f"Tests: {files['tests']} (`uv run pytest tests/cells/`).",
            "Everything in this folder is yours but this file, which `explain` writes.",
        )
    )
    lines += [""]
    lines += _wrapped(
        f"Regenerate the cell from its spec: `{RUN} cell regenerate {cell.name}`; rebuild "
        f"the recorded answer offline: `{RUN} cell regenerate {cell.name} --replay`; a "
        f'minor fix: `{RUN} cell patch {cell.name} "instruction"`. The project\'s rules, '
        "gates and commands are in the root `AGENTS.md`."
    )
    return "\n".join(lines) + "\n"


def cell_documents(registry: Registry, root: Path) -> list[tuple[Path, str]]:
    """(path, text) of each cell's `AGENTS.md`."""
    return [
        (root / CellFiles(cell.name).agents, render_cell_agents(cell, root)) for cell in registry
    ]

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Regenerating a cell with a pinned model: `<cli> cell regenerate NAME`, `cell patch`.

Code is the source of truth, and a cell is regenerated from its requirements rather than
patched into debt. The loop, one module per step:

1. `pack`: the context pack. For `regenerate`: the cell's `SPEC.md` (what it must do),
   its contract (`messages.py`), its tests, the documented signatures of the core API it
   is written against (`signatures`), and one example cell. For `patch`: the instruction,
   the cell's files and the failing tests' output. The pack is measured against the
   pinned model's window and the blueprint's per-call budget before anything is sent; a
   pack that does not fit is refused with the advice to split the cell.
2. The model pinned for the purpose `codegen` answers through `llm/` (budgets reserved
   before sending, settled after), at temperature 0 with a fixed seed where the provider
   has one.
3. `answer`: the answer is one JSON object of whole files by path. Only the cell's own
   folder and its tests may change; anything else refuses the answer.
4. `scratch`: the answer is written into a scratch git worktree holding the project as it
   is now (uncommitted edits included), and `explain` refreshes the generated files there.
5. `gates`: ruff, the format check, mypy, the import contracts, the cell's tests, and the
   GenOps gates e2e, semdiff, pins and budget, all in the scratch worktree. A contract
   change must come with a change of the spec, and an API break must be acknowledged.
6. Failing gates are fed back to the model for up to `codegen.repair_rounds` rounds
   (blueprint.yml); each round is a call within the budgets.
7. Only when every gate passes is the change applied to the work tree, as one change to
   review with `git diff`; otherwise nothing changes and each failing gate says why.
8. `record`: every run is recorded in the usage ledger and in the cell's
   `.regenerations.jsonl` (model, provider, parameters, the prompt's and the answer's
   SHA-256, tokens, cost, rounds, each gate's verdict); the raw answer is kept by the
   prompt's hash in `.regenerations/`, so `cell regenerate NAME --replay` rebuilds the same
   files offline, bit for bit, with no provider call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..core.catalog import CellFiles

PURPOSE = "codegen"  # the pin in blueprint.yml's `models:` that writes cells
SPEC = "SPEC.md"
RECORD = ".regenerations.jsonl"
ANSWERS = ".regenerations"
# In a cell's folder, but never the model's to write: the user's requirements, the files
# `explain` writes, and the record of past runs.
PROTECTED = (SPEC, "AGENTS.md", RECORD, ANSWERS)


@dataclass(frozen=True)
class CellTree:
    """One cell's files in the project at `root` (`core.catalog.CellFiles` names them),
    with what a regeneration needs: which files exist, and which it may write."""

    root: Path
    name: str

    @property
    def files(self) -> CellFiles:
        return CellFiles(self.name)

    @property
    def folder(self) -> PurePosixPath:
        return PurePosixPath(self.files.folder)

    @property
    def test_file(self) -> PurePosixPath:
        return PurePosixPath(self.files.tests)

    @property
    def test_folder(self) -> PurePosixPath:  # a cell whose tests outgrow one file
        return self.test_file.parent / self.name

    def path(self, relative: PurePosixPath | str) -> Path:
        return self.root / relative

    @property
    def spec(self) -> Path:
        return self.path(self.files.spec)

    @property
    def contract(self) -> Path:
        return self.path(self.files.contract)

    @property
    def record(self) -> Path:
        return self.path(self.folder / RECORD)

    @property
    def answers(self) -> Path:
        return self.path(self.folder / ANSWERS)

    def exists(self) -> bool:
        return self.path(self.folder / "__init__.py").is_file()

    def code_files(self) -> list[PurePosixPath]:
        """The cell's Python and prompt files, sorted (its spec, record and answers not)."""
        folder = self.path(self.folder)
        found = [
            PurePosixPath(path.relative_to(self.root).as_posix())
            for path in folder.rglob("*")
            if path.is_file() and path.suffix in (".py", ".md") and "__pycache__" not in path.parts
        ]
        return sorted(path for path in found if not self.protected(path))

    def tests(self) -> list[PurePosixPath]:
        """The cell's tests: its test file, and the files of its test folder."""
        found = [self.test_file] if self.path(self.test_file).is_file() else []
        folder = self.path(self.test_folder)
        if folder.is_dir():
            found += sorted(
                PurePosixPath(path.relative_to(self.root).as_posix())
                for path in folder.rglob("*.py")
            )
        return found

    def in_scope(self, path: PurePosixPath) -> bool:
        """May an answer write `path`? Inside the cell's folder (not a protected file),
        its test file, or inside its test folder."""
        if path == self.test_file:
            return True
        for folder in (self.folder, self.test_folder):
            if path.parts[: len(folder.parts)] == folder.parts and len(path.parts) > len(
                folder.parts
            ):
                return folder == self.test_folder or not self.protected(path)
        return False

    def protected(self, path: PurePosixPath) -> bool:
        inside = path.parts[len(self.folder.parts) :]
        return bool(inside) and inside[0] in PROTECTED

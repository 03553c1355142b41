# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The context pack: what the model reads to write a cell, measured before it is sent.

`regenerate` sends the cell's spec, its contract, its tests, the core API's signatures
(`signatures.py`) and one example cell (another cell of the project, else the cell's own
code, as an example of the conventions). `patch` sends less: the instruction, the cell's
files and contract, its tests and their output now. A repair round adds the previous
answer and what the gates said about it.

The pack is measured with the pin's token estimate (`llm/tokens.py`, the figure budgets
are judged by) against the model's window (`context_tokens` of the pin) and the
blueprint's per-call budget, each with the answer's `max_output_tokens` on top. A pack
that does not fit is refused before anything is sent: the cell has outgrown what one
call can rewrite, and should be split (the same signal as the `context_size` trigger).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..core.names import PACKAGE
from ..llm.budget import Budget, estimate
from ..llm.pins import Pin
from ..llm.providers import Message
from . import CellTree
from .answer import FORMAT
from .signatures import core_api

RULES = """You write one cell of the Python service `{package}`, a cellular monolith: cells
talk only through messages on a bus. A cell is the package `src/{package}/cells/{name}/`:
`messages.py` is its public contract (dataclasses subclassing Command, Query, Event or
Record from `{package}.core.messages`), `handlers.py` its private handlers, `__init__.py`
declares `cell = Cell(...)`. A cell imports only `{package}.core`, `{package}.llm` and its
own package. The code must pass ruff, `ruff format`, mypy and the cell's tests in
`tests/cells/`; keep the contract unless the spec changes it. You may write only files in
`src/{package}/cells/{name}/` (not its SPEC.md or AGENTS.md) and the cell's tests
(`tests/cells/test_{name}_cell.py`, `tests/cells/{name}/`). {format}"""


class PackTooLarge(Exception):  # noqa: N818 - a refusal, not a fault
    """The pack and the answer do not fit the model's window or the per-call budget."""


@dataclass(frozen=True)
class Pack:
    messages: tuple[Message, ...]
    parts: tuple[tuple[str, str], ...]  # (title, text) of each part, for the measure

    def tokens(self, pin: Pin) -> int:
        """The estimated input tokens, as the budgets judge them."""
        return estimate(pin, [m.content for m in self.messages], 0).input_tokens

    def sha256(self) -> str:
        """The prompt's hash: what identifies the answer it got."""
        canonical = json.dumps([[m.role, m.content] for m in self.messages], ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def followed_by(self, answer: str, feedback: str) -> Pack:
        """The pack of a repair round: this one, the answer it got, what the gates said."""
        turns = (Message("assistant", answer), Message("user", feedback))
        return Pack(self.messages + turns, (*self.parts, ("repair", feedback)))


def regenerate_pack(cell: CellTree, example: CellTree | None) -> Pack:
    parts = [
        ("spec", _file(cell, cell.files.spec)),
        ("contract", _file(cell, cell.files.contract)),
        ("tests", "\n".join(_file(cell, path) for path in cell.tests()) or "(none yet)"),
        ("core API", core_api(cell.root / "src" / PACKAGE)),
        ("files now", "\n".join(str(path) for path in cell.code_files())),
    ]
    if example is not None:
        shown = "\n".join(_file(example, path) for path in example.code_files())
        parts.append((f"example cell `{example.name}`", shown))
    task = (
        f"Regenerate the cell `{cell.name}` from its spec: write every file of its folder "
        "whole, so that it does what the spec says and passes its tests; add tests for "
        "acceptance examples of the spec that no test checks yet."
    )
    return _pack(cell, task, parts)


def patch_pack(cell: CellTree, instruction: str, test_output: str) -> Pack:
    parts = [
        ("instruction", instruction),
        ("files", "\n".join(_file(cell, path) for path in cell.code_files())),
        ("tests", "\n".join(_file(cell, path) for path in cell.tests()) or "(none yet)"),
        ("test output now", test_output),
    ]
    task = (
        f"Make a minor fix to the cell `{cell.name}` as the instruction says; write only "
        "the files that change, each whole."
    )
    return _pack(cell, task, parts)


def _pack(cell: CellTree, task: str, parts: list[tuple[str, str]]) -> Pack:
    system = RULES.format(package=PACKAGE, name=cell.name, format=FORMAT)
    body = "\n\n".join(f"## {title}\n\n{text}" for title, text in parts)
    messages = (Message("system", system), Message("user", f"{task}\n\n{body}"))
    return Pack(messages, (("rules", system), *parts))


def _file(cell: CellTree, path: object) -> str:
    """One file of the project, tagged with its path (a missing file says so)."""
    target = cell.root / str(path)
    text = target.read_text(encoding="utf-8") if target.is_file() else "(missing)"
    return f'<file path="{path}">\n{text}\n</file>'


def check_fit(pack: Pack, pin: Pin, per_call: Budget, max_output_tokens: int) -> int:
    """The pack's estimated tokens; `PackTooLarge` when it and the answer do not fit."""
    tokens = pack.tokens(pin)
    needed = tokens + max_output_tokens
    largest = max(pack.parts, key=lambda part: len(part[1]))[0]
    advice = (
        f"the largest part is the {largest}: split the cell (one job per cell), or trim "
        "its spec and tests, and run again"
    )
    if needed > pin.context_tokens:
        raise PackTooLarge(
            f"the context pack is {tokens} tokens, and with the answer's {max_output_tokens} "
            f"it exceeds {pin.model}'s window of {pin.context_tokens}: {advice}"
        )
    if per_call.tokens is not None and needed > per_call.tokens:
        raise PackTooLarge(
            f"the context pack is {tokens} tokens, and with the answer's {max_output_tokens} "
            f"it exceeds the per-call budget of {per_call.tokens} tokens "
            f"(budgets.per_call.tokens): {advice}"
        )
    return tokens
